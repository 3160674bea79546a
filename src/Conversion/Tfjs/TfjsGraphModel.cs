using System.Text.Json;

namespace MoeDetect.Conversion.Tfjs;

/// <summary>
/// A TensorFlow.js graph model (model.json + weight shards), read into nodes and dequantized constants.
/// </summary>
public sealed class TfjsGraphModel
{
    private TfjsGraphModel(string path, JsonElement root, IReadOnlyList<TfjsNode> nodes, IReadOnlyDictionary<string, TfjsTensor> weights,
        IReadOnlyList<SignatureTensor> signatureOutputs)
    {
        Path = path;
        Nodes = nodes;
        Weights = weights;
        SignatureOutputs = signatureOutputs;
        GeneratedBy = root.TryGetProperty("generatedBy", out var g) ? g.GetString() : null;
        NodesByName = nodes.ToDictionary(n => n.Name);
    }

    public string Path { get; }
    public string? GeneratedBy { get; }
    public IReadOnlyList<TfjsNode> Nodes { get; }
    public IReadOnlyDictionary<string, TfjsNode> NodesByName { get; }
    /// <summary>Every Const node's value, by node name.</summary>
    public IReadOnlyDictionary<string, TfjsTensor> Weights { get; }
    /// <summary>The outputs the signature declares ("Identity:0" style names), in file order; possibly empty.</summary>
    public IReadOnlyList<SignatureTensor> SignatureOutputs { get; }

    public static TfjsGraphModel Load(string modelJsonPath)
    {
        if (!File.Exists(modelJsonPath))
            throw new ModelConversionException($"TFJS model file '{modelJsonPath}' does not exist; pass the path of a graph model's model.json.");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(modelJsonPath));
        }
        catch (JsonException e)
        {
            throw new ModelConversionException($"TFJS model file '{modelJsonPath}' is not valid JSON ({e.Message}).", e);
        }
        using (doc)
        {
            var root = doc.RootElement.Clone();
            if (!root.TryGetProperty("modelTopology", out var topology) || !topology.TryGetProperty("node", out var nodeList))
                throw new ModelConversionException(
                    $"TFJS model file '{modelJsonPath}' has no modelTopology.node list; only TFJS graph models (format graph-model) can be converted.");
            var nodes = nodeList.EnumerateArray().Select(ReadNode).ToList();
            var weights = WeightsManifest.Read(modelJsonPath, root);
            foreach (var constNode in nodes.Where(n => n.Op == "Const"))
                if (!weights.ContainsKey(constNode.Name))
                    throw new ModelConversionException($"TFJS model file '{modelJsonPath}': Const node '{constNode.Name}' has no entry in weightsManifest.");
            return new TfjsGraphModel(modelJsonPath, root, nodes, weights, SignatureOutputNames(root));
        }
    }

    private static TfjsNode ReadNode(JsonElement n)
    {
        var inputs = n.TryGetProperty("input", out var ins)
            ? ins.EnumerateArray().Select(i => i.GetString()!).Where(i => !i.StartsWith('^')).ToList() // drop control edges
            : [];
        var attrs = n.TryGetProperty("attr", out var a)
            ? a.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone())
            : [];
        return new TfjsNode(n.GetProperty("name").GetString()!, n.GetProperty("op").GetString()!, inputs, attrs);
    }

    private static List<SignatureTensor> SignatureOutputNames(JsonElement root) =>
        root.TryGetProperty("signature", out var sig) && sig.TryGetProperty("outputs", out var outs)
            ? outs.EnumerateObject().Select(o => ReadSignatureTensor(o.Name, o.Value)).ToList()
            : [];

    private static SignatureTensor ReadSignatureTensor(string key, JsonElement t)
    {
        var name = t.TryGetProperty("name", out var n) ? n.GetString()! : key;
        var dtype = t.TryGetProperty("dtype", out var d) ? d.GetString()! : "DT_FLOAT";
        long[]? shape = t.TryGetProperty("tensorShape", out var ts) && ts.TryGetProperty("dim", out var dims)
            ? dims.EnumerateArray().Select(x => x.TryGetProperty("size", out var size) ? long.Parse(size.ToString()) : -1).ToArray()
            : null;
        return new SignatureTensor(name, dtype, shape);
    }
}

/// <summary>An input or output the model.json signature declares: TF tensor name, DT_* type and shape (-1 unknown) if given.</summary>
public sealed record SignatureTensor(string Name, string DType, long[]? Shape)
{
    /// <summary>The TF tensor reference this names, without the ":0" suffix.</summary>
    public string Reference => Name.EndsWith(":0", StringComparison.Ordinal) ? Name[..^2] : Name;
}
