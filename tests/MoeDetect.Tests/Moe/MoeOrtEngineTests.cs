using System.IO.Compression;
using System.Text.Json.Nodes;
using MoeDetect.Model;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Loading;
using MoeDetect.Model.Moe;
using MoeDetect.Tests.Support;

namespace MoeDetect.Tests.Moe;

/// <summary>A small real .moedet file: stem ×1, one MoE block whose router prefers expert 0 (y = 2x) for dark frames
/// and expert 1 (y = 3x) for bright ones, expert 2 is the identity (skip). The block output is the decoder output,
/// so tests can check exactly which experts ran and with what weights.</summary>
public class MoeOrtEngineTests
{
    private readonly string _folder = TestPaths.NewTempFolder();

    private static byte[] Scale(float factor) => new TestOnnx("expert")
        .Input("x", -1, 3, 2, 2).Output("y", -1, 3, 2, 2).Floats("k", [factor]).Node("Mul", ["x", "k"], "y").ToBytes();

    private string WriteModel(JsonObject routing, Action<JsonObject>? edit = null, bool includeExpert1 = true)
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
        string path = Path.Combine(_folder, $"m{Guid.NewGuid():N}.moedet");
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        void Add(string name, byte[] bytes) { using var s = zip.CreateEntry(name).Open(); s.Write(bytes); }
        Add("manifest.json", System.Text.Encoding.UTF8.GetBytes(manifest.ToJsonString()));
        Add("stem.onnx", stem);
        Add("router.onnx", router);
        Add("e0.onnx", Scale(2));
        if (includeExpert1) Add("e1.onnx", Scale(3));
        return path;
    }

    private static float[] Frames(params float[] values) => values.SelectMany(v => Enumerable.Repeat(v, 12)).ToArray();

    [Fact]
    public void Each_frame_runs_only_its_chosen_expert_and_reports_route_and_compute()
    {
        using var model = ModelLoader.Load(WriteModel(new JsonObject { ["mode"] = "top-k", ["k"] = 1 }), new EngineRequest(Threads: 1));
        Assert.True(model.IsMixtureOfExperts);
        var output = model.Engine.Run(Frames(0.1f, 0.9f, 0.05f), 3);

        Assert.Equal(Frames(0.2f, 2.7f, 0.1f), output.Tensor("block_out").Data, new FloatTolerance(1e-5f));
        Assert.Equal([[0], [1], [0]], output.Routes!.Select(r => r.ExpertsPerBlock[0]));
        Assert.Equal([1.51, 2.51, 1.51], output.Routes!.Select(r => Math.Round(r.Gflops, 6)));
        Assert.True(output.Timings.RouteMs > 0 && output.Timings.ExpertsMs > 0);
    }

    [Fact]
    public void Top_k_two_mixes_experts_with_renormalised_router_weights()
    {
        using var model = ModelLoader.Load(WriteModel(new JsonObject { ["mode"] = "top-k", ["k"] = 2 }), new EngineRequest(Threads: 1));
        var output = model.Engine.Run(Frames(0.5f), 1);
        // mean 0.5 → logits [0, 0, 0]: all equal, the first two (0 and 1) are taken with weight ½ each.
        Assert.Equal([0, 1], output.Routes![0].ExpertsPerBlock[0]);
        Assert.Equal(Frames(0.5f * (2 + 3) / 2), output.Tensor("block_out").Data, new FloatTolerance(1e-5f));
        Assert.Equal(3.51, output.Routes[0].Gflops, 6);
    }

    [Fact]
    public void Files_that_are_not_valid_models_are_rejected_naming_the_problem()
    {
        var wrongVersion = WriteModel(new JsonObject(), m => m["version"] = 7);
        Assert.Contains("format version 7 is not supported", Assert.Throws<InvalidModelException>(() => ModelLoader.Load(wrongVersion, new EngineRequest())).Message);
        var missingGraph = WriteModel(new JsonObject(), includeExpert1: false);
        Assert.Contains("graph 'e1.onnx' is not in the archive", Assert.Throws<InvalidModelException>(() => ModelLoader.Load(missingGraph, new EngineRequest())).Message);
        var danglingInput = WriteModel(new JsonObject(), m => m["steps"]![1]!["input"] = "nowhere");
        Assert.Contains("input 'nowhere' is not produced by an earlier step", Assert.Throws<InvalidModelException>(() => ModelLoader.Load(danglingInput, new EngineRequest())).Message);
        var notZip = Path.Combine(_folder, "plain.moedet");
        File.WriteAllText(notZip, "hello");
        Assert.Contains("not a ZIP archive", Assert.Throws<InvalidModelException>(() => ModelLoader.Load(notZip, new EngineRequest())).Message);
    }

    private sealed class FloatTolerance(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float a, float b) => Math.Abs(a - b) <= tolerance;
        public int GetHashCode(float value) => 0;
    }
}
