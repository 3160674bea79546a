using System.Text;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MoeDetect.Conversion;
using MoeDetect.Tests.Support;

namespace MoeDetect.Tests.Conversion;

/// <summary>
/// Writes a small TFJS graph model the way the TFJS converter does (model.json + one .bin shard, float weights
/// quantized to float16, int32 unquantized), converts it with the real converter and runs it with ONNX Runtime.
/// </summary>
internal sealed class SyntheticTfjsGraph
{
    private readonly List<Dictionary<string, object>> _nodes = [];
    private readonly List<(Dictionary<string, object> Spec, byte[] Bytes)> _weights = [];
    private readonly List<(string Name, string DType, int[] Shape)> _outputs = [];

    public SyntheticTfjsGraph Input(string name, int[] shape, string dtype = "DT_FLOAT") =>
        Node(name, "Placeholder", [], new() { ["dtype"] = Type(dtype), ["shape"] = new { shape = new { dim = shape.Select(d => new { size = d.ToString() }) } } });

    /// <summary>Weight shards the .bin is cut into (cuts fall inside weights, as the TFJS converter's 4 MB shards do).</summary>
    public int Shards { get; init; } = 1;

    /// <summary>A float constant stored as float16; returns the values as the model will see them (rounded to half).</summary>
    public float[] Floats(string name, float[] values, params int[] shape)
    {
        var halves = values.Select(v => (Half)v).ToArray();
        var bytes = new byte[halves.Length * 2];
        for (var i = 0; i < halves.Length; i++)
            BitConverter.TryWriteBytes(bytes.AsSpan(i * 2), halves[i]);
        AddConst(name, "float32", shape, bytes, new { dtype = "float16", original_dtype = "float32" });
        return halves.Select(h => (float)h).ToArray();
    }

    /// <summary>A float constant stored with TFJS's uint8 affine quantization (value = q·scale + min); returns the dequantized values.</summary>
    public float[] Uint8Floats(string name, float[] values, params int[] shape)
    {
        var (min, max) = (values.Min(), values.Max());
        var scale = (max - min) / 255f;
        var q = values.Select(v => (byte)Math.Round((v - min) / scale)).ToArray();
        AddConst(name, "float32", shape, q, new { dtype = "uint8", min, scale, original_dtype = "float32" });
        return q.Select(b => (float)(b * (double)scale + min)).ToArray();
    }

    public SyntheticTfjsGraph Ints(string name, int[] values, params int[] shape)
    {
        AddConst(name, "int32", shape, values.SelectMany(BitConverter.GetBytes).ToArray(), quantization: null);
        return this;
    }

    public SyntheticTfjsGraph Node(string name, string op, string[] inputs, Dictionary<string, object>? attr = null)
    {
        _nodes.Add(new() { ["name"] = name, ["op"] = op, ["input"] = inputs, ["attr"] = attr ?? [] });
        return this;
    }

    public SyntheticTfjsGraph Output(string name, int[] shape, string dtype = "DT_FLOAT")
    {
        _outputs.Add((name, dtype, shape));
        return this;
    }

    // TFJS attribute encodings.
    public static object I(long v) => new { i = v.ToString() };
    public static object F(float v) => new { f = v };
    public static object B(bool v) => new { b = v };
    public static object S(string v) => new { s = Convert.ToBase64String(Encoding.UTF8.GetBytes(v)) };
    public static object IntList(params long[] v) => new { list = new { i = v.Select(x => x.ToString()) } };
    public static object StringList(params string[] v) => new { list = new { s = v.Select(x => Convert.ToBase64String(Encoding.UTF8.GetBytes(x))) } };
    public static object Type(string dtype) => new { type = dtype };

    /// <summary>Writes model.json and model.bin into a fresh temporary folder; returns the model.json path.</summary>
    public string Write()
    {
        var dir = TestPaths.NewTempFolder();
        var json = new Dictionary<string, object>
        {
            ["format"] = "graph-model",
            ["generatedBy"] = "MoeDetect.Tests",
            ["modelTopology"] = new { node = _nodes },
            ["signature"] = new
            {
                outputs = _outputs.ToDictionary(o => $"{o.Name}:0",
                    o => (object)new { name = $"{o.Name}:0", dtype = o.DType, tensorShape = new { dim = o.Shape.Select(d => new { size = d.ToString() }) } }),
            },
            ["weightsManifest"] = new[] { new { paths = ShardNames(), weights = _weights.Select(w => w.Spec) } },
        };
        File.WriteAllText(Path.Combine(dir, "model.json"), JsonSerializer.Serialize(json));
        var bin = _weights.SelectMany(w => w.Bytes).ToArray();
        var perShard = (bin.Length + Shards - 1) / Shards;
        foreach (var (shard, k) in ShardNames().Select((n, k) => (n, k)))
            File.WriteAllBytes(Path.Combine(dir, shard), bin.Skip(k * perShard).Take(perShard).ToArray());
        return Path.Combine(dir, "model.json");
    }

    /// <summary>Converts (outputs keep their TF names, the Placeholder becomes "x") and runs one input through ONNX Runtime.</summary>
    public Dictionary<string, DenseTensor<float>> ConvertAndRun(float[] input, params int[] inputShape) =>
        ConvertAndRun<float>(NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(input, inputShape)));

    /// <summary>Converts and runs; every output must have element type <typeparamref name="T"/>.</summary>
    public Dictionary<string, DenseTensor<T>> ConvertAndRun<T>(NamedOnnxValue input)
    {
        var modelJson = Write();
        var onnxPath = Path.ChangeExtension(modelJson, ".onnx");
        try
        {
            var options = new TfjsConversionOptions { InputName = "x", Outputs = _outputs.Select(o => new OutputBinding(o.Name, o.Name)).ToList() };
            TfjsToOnnxConverter.Convert(modelJson, options, onnxPath);
            using var session = new InferenceSession(onnxPath);
            using var results = session.Run([input]);
            return results.ToDictionary(r => r.Name, r => r.AsTensor<T>().ToDenseTensor());
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(modelJson)!, recursive: true);
        }
    }

    private string[] ShardNames() =>
        Shards == 1 ? ["model.bin"] : Enumerable.Range(1, Shards).Select(k => $"group1-shard{k}of{Shards}.bin").ToArray();

    private void AddConst(string name, string dtype, int[] shape, byte[] bytes, object? quantization)
    {
        var spec = new Dictionary<string, object> { ["name"] = name, ["shape"] = shape, ["dtype"] = dtype };
        if (quantization is not null)
            spec["quantization"] = quantization;
        _weights.Add((spec, bytes));
        Node(name, "Const", [], new() { ["dtype"] = Type(dtype == "int32" ? "DT_INT32" : "DT_FLOAT") });
    }
}
