using System.IO.Compression;
using System.Text.Json.Nodes;

namespace MoeDetect.Tests.Support;

/// <summary>A small real .moedet file: stem ×1, one MoE block whose router prefers expert 0 (y = 2x) for dark frames
/// and expert 1 (y = 3x) for bright ones, expert 2 is the identity (skip). The block output is the decoder output,
/// so tests can check exactly which experts ran and with what weights. Frames are [3, 2, 2] NCHW.</summary>
public static class TinyMoeModel
{
    public static byte[] Scale(float factor) => new TestOnnx("expert")
        .Input("x", -1, 3, 2, 2).Output("y", -1, 3, 2, 2).Floats("k", [factor]).Node("Mul", ["x", "k"], "y").ToBytes();

    /// <summary>Writes the model into <paramref name="folder"/>; <paramref name="edit"/> changes the manifest and
    /// <paramref name="extraGraphs"/> adds archive entries (e.g. for steps the edit appends).</summary>
    public static string Write(string folder, JsonObject routing, Action<JsonObject>? edit = null, bool includeExpert1 = true,
        IReadOnlyDictionary<string, byte[]>? extraGraphs = null)
    {
        var stem = new TestOnnx("stem").Input("images", -1, 3, 2, 2).Output("features", -1, 3, 2, 2)
            .Floats("one", [1f]).Node("Mul", ["images", "one"], "features").ToBytes();
        // logits = mean(x) · [-10, 10, 0] + [5, -5, 0] (the three channels share the weight): dark (mean 0) →
        // expert 0, bright (mean 1) → expert 1.
        float a = 10f / 3;
        var router = new TestOnnx("router").Input("x", -1, 3, 2, 2).Output("logits", -1, 3)
            .Floats("w", [-a, a, 0f, -a, a, 0f, -a, a, 0f], 3, 3).Floats("b", [5f, -5f, 0f], 3)
            .Node("GlobalAveragePool", ["x"], "pooled").Node("Flatten", ["pooled"], "flat")
            .Node("MatMul", ["flat", "w"], "raw").Node("Add", ["raw", "b"], "logits").ToBytes();
        var manifest = new JsonObject
        {
            ["format"] = "moedetect-model", ["version"] = 1, ["name"] = "tiny-moe",
            ["classes"] = new JsonArray("a"),
            ["input"] = new JsonObject { ["name"] = "images", ["width"] = 2, ["height"] = 2, ["layout"] = "NCHW", ["order"] = "RGB" },
            ["decoder"] = "centernet", ["decoder_outputs"] = new JsonArray("block_out"),
            ["routing"] = routing,
            ["steps"] = new JsonArray(
                new JsonObject { ["kind"] = "segment", ["name"] = "stem", ["onnx"] = "stem.onnx", ["inputs"] = new JsonArray("images"), ["outputs"] = new JsonArray("features"), ["gflops"] = 0.5 },
                new JsonObject
                {
                    ["kind"] = "moe", ["name"] = "block1", ["input"] = "features", ["output"] = "block_out",
                    ["router"] = new JsonObject { ["onnx"] = "router.onnx", ["gflops"] = 0.01 },
                    ["experts"] = new JsonArray(
                        new JsonObject { ["name"] = "double", ["onnx"] = "e0.onnx", ["gflops"] = 1.0 },
                        new JsonObject { ["name"] = "triple", ["onnx"] = "e1.onnx", ["gflops"] = 2.0 },
                        new JsonObject { ["name"] = "skip", ["onnx"] = null, ["gflops"] = 0.0 }),
                }),
        };
        edit?.Invoke(manifest);
        string path = Path.Combine(folder, $"m{Guid.NewGuid():N}.moedet");
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        void Add(string name, byte[] bytes) { using var s = zip.CreateEntry(name).Open(); s.Write(bytes); }
        Add("manifest.json", System.Text.Encoding.UTF8.GetBytes(manifest.ToJsonString()));
        Add("stem.onnx", stem);
        Add("router.onnx", router);
        Add("e0.onnx", Scale(2));
        if (includeExpert1) Add("e1.onnx", Scale(3));
        foreach (var (name, bytes) in extraGraphs ?? new Dictionary<string, byte[]>()) Add(name, bytes);
        return path;
    }

    /// <summary>Frames whose 12 values all equal the given brightness.</summary>
    public static float[] Frames(params float[] values) => values.SelectMany(v => Enumerable.Repeat(v, 12)).ToArray();
}
