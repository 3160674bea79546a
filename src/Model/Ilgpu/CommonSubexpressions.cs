using Google.Protobuf;

namespace MoeDetect.Model.Ilgpu;

/// <summary>A node that computes what an earlier node already computed (the same operator and attributes on the same
/// inputs, small constants compared by value) is dropped, and its readers read the earlier node's outputs: one launch
/// fewer each. Exporters repeat such work: CenterNet's decoder floors index ÷ 80 twice and multiplies the column by 4
/// twice, each time from constants of its own. Nodes that write a graph output, and random ones, are kept.</summary>
internal static class CommonSubexpressions
{
    public static void Apply(OnnxGraph graph)
    {
        var replacement = new Dictionary<string, string>();
        var computed = new Dictionary<string, GraphNode>();
        var graphOutputs = graph.OutputNames.ToHashSet();
        foreach (var node in graph.Nodes.ToList())
        {
            for (int i = 0; i < node.Inputs.Count; i++)
                if (replacement.TryGetValue(node.Inputs[i], out var earlier)) node.Inputs[i] = earlier;
            if (node.Outputs.Any(graphOutputs.Contains) || node.OpType.StartsWith("Random", StringComparison.Ordinal)) continue;
            string key = Key(graph, node);
            if (!computed.TryGetValue(key, out var first))
            {
                computed[key] = node;
                continue;
            }
            for (int o = 0; o < node.Outputs.Count; o++)
                if (node.Outputs[o].Length > 0) replacement[node.Outputs[o]] = first.Outputs[o];
            graph.Nodes.Remove(node);
        }
    }

    /// <summary>Constants up to this size are told apart by value, larger ones (weights) by name.</summary>
    private const int ConstantValueLimit = 64;

    private static string Key(OnnxGraph graph, GraphNode node)
    {
        var inputs = node.Inputs.Select(name =>
            graph.Constants.TryGetValue(name, out var c) && c.Data.Length <= ConstantValueLimit
                ? $"={(c.IsInteger ? "i" : "f")}[{string.Join(",", c.Shape)}]{string.Join(",", c.Data)}"
                : name);
        var attributes = node.Attributes.OrderBy(a => a.Key, StringComparer.Ordinal)
            .Select(a => $"{a.Key}:{Convert.ToBase64String(a.Value.ToByteArray())}");
        // Outputs counted: an optional output asked of one node only (TopK's indices) is not computed by the other.
        string outputs = string.Join(",", node.Outputs.Select(o => o.Length > 0 ? "1" : "0"));
        return $"{node.OpType}|{node.Fused}|{string.Join(";", inputs)}|{string.Join(";", attributes)}|{outputs}";
    }
}
