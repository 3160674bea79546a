using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MoeDetect.Model.Loading;
using Onnx;

namespace MoeDetect.Model.Engines.Cuda;

/// <summary>Rewrites a TopK over one long row (CenterNet's top 100 of the flattened 128×128×80 heatmap) into two
/// stages for ONNX Runtime's CUDA provider, whose TopK gives each row to ONE thread block: a 1.3 M-value row then
/// keeps a single SM busy for milliseconds. Stage 1 takes the top k of each of <see cref="Rows"/> slices in parallel,
/// stage 2 the top k of those R·k candidates; GatherElements maps the winners back to their flat indices. Same
/// values and indices (ties aside, which TopK leaves unordered anyway).</summary>
public static class TwoStageTopK
{
    /// <summary>Slices of stage 1; the row length must be a multiple of it.</summary>
    public const int Rows = 1024;

    /// <summary>Rows shorter than this are left alone: one block handles them fast enough.</summary>
    public const long MinLength = 1 << 16;

    /// <summary>The graph with every eligible TopK split (last axis, rank 2, constant k ≤ the slice length, largest and
    /// sorted); the graph as it was when none is. Row lengths come from one run of the graph on zeros on the CPU
    /// (inputs' open dimensions taken as 1), since they are rarely static in the graph itself.</summary>
    public static byte[] Rewrite(byte[] model, string modelLabel)
    {
        var proto = ModelProto.Parser.ParseFrom(model);
        var graph = proto.Graph;
        var candidates = graph.Node.Where(n => n.OpType == "TopK" && IsLargestSorted(n) && ConstantK(graph, n) is not null).ToList();
        if (candidates.Count == 0) return model;
        var lengths = RowShapes(proto, candidates.Select(n => n.Input[0]).ToList(), modelLabel);
        bool changed = false;
        foreach (var node in candidates)
        {
            if (!lengths.TryGetValue(node.Input[0], out var shape) || shape.Length != 2 || !IsLastAxis(node, 2)) continue;
            long length = shape[1], k = ConstantK(graph, node)!.Value;
            if (length < MinLength || length % Rows != 0 || k > length / Rows) continue;
            Split(graph, node, length / Rows);
            changed = true;
        }
        return changed ? proto.ToByteArray() : model;
    }

    private static void Split(GraphProto graph, NodeProto topK, long columns)
    {
        string p = topK.Name.Length > 0 ? topK.Name : topK.Output[0];
        string Name(string suffix) => $"{p}/two_stage/{suffix}";
        var nodes = new List<NodeProto>();
        void Add(string op, string[] inputs, string[] outputs, params AttributeProto[] attributes) =>
            nodes.Add(OnnxProtos.Node(op, inputs, outputs, Name(op + "_" + nodes.Count), attributes));
        string k = topK.Input[1];
        long kValue = ConstantK(graph, topK)!.Value;
        Add("Reshape", [topK.Input[0], OnnxProtos.AddInt64s(graph, Name("slices_shape"), [-1, Rows, columns])], [Name("slices")]);
        Add("TopK", [Name("slices"), k], [Name("slice_values"), Name("slice_indices")], OnnxProtos.IntAttribute("axis", -1));
        // Column index within a slice → flat index: add each slice's first flat index.
        var offsets = Enumerable.Range(0, Rows).Select(r => r * columns).ToArray();
        Add("Add", [Name("slice_indices"), OnnxProtos.AddInt64s(graph, Name("slice_offsets"), offsets, [Rows, 1])], [Name("flat_indices")]);
        Add("Reshape", [Name("slice_values"), OnnxProtos.AddInt64s(graph, Name("candidates_shape"), [-1, Rows * kValue])], [Name("candidate_values")]);
        Add("Reshape", [Name("flat_indices"), Name("candidates_shape")], [Name("candidate_indices")]);
        Add("TopK", [Name("candidate_values"), k], [topK.Output[0], Name("winners")], OnnxProtos.IntAttribute("axis", -1));
        Add("GatherElements", [Name("candidate_indices"), Name("winners")], [topK.Output[1]], OnnxProtos.IntAttribute("axis", 1));

        int at = graph.Node.IndexOf(topK);
        graph.Node.RemoveAt(at);
        for (int i = nodes.Count - 1; i >= 0; i--) graph.Node.Insert(at, nodes[i]);
    }

    /// <summary>Shapes of <paramref name="names"/> from a CPU run on zero inputs. A graph whose batch is fixed above 2
    /// (the CUDA engines fix it to the requested batch) is first run at a batch of 2: where every row count follows
    /// that batch, the row lengths are per item and hold for any batch, and loading a batch-32 graph does not cost a
    /// CPU inference of 32 frames. Otherwise, or where that run fails, the graph runs as it is.</summary>
    private static Dictionary<string, long[]> RowShapes(ModelProto model, IReadOnlyList<string> names, string modelLabel)
    {
        if (AtBatchOfTwo(model) is { } small && Probe(small, names, modelLabel) is { Count: > 0 } shapes && shapes.Values.All(s => s is [2, ..]))
            return shapes;
        return Probe(model, names, modelLabel);
    }

    /// <summary>The graph with every input's fixed batch above 2 set to 2, without the shapes recorded for the inner
    /// values (ONNX Runtime's optimisation pass records them at the fixed batch); null when no input has one.</summary>
    private static ModelProto? AtBatchOfTwo(ModelProto model)
    {
        var small = model.Clone();
        small.Graph.ValueInfo.Clear();
        var batches = small.Graph.Input.Select(i => i.Type.TensorType?.Shape?.Dim.FirstOrDefault()).Where(d => d is { DimValue: > 2 }).ToList();
        foreach (var dim in batches) dim!.DimValue = 2;
        return batches.Count > 0 ? small : null;
    }

    /// <summary>Shapes of <paramref name="names"/> from one CPU run on zero inputs; none when the graph takes inputs
    /// other than float or 8-bit ones, or does not load or run on zeros (the graph is then left as it is).</summary>
    private static Dictionary<string, long[]> Probe(ModelProto model, IReadOnlyList<string> names, string modelLabel)
    {
        var probe = model.Clone();
        foreach (var name in names.Where(n => probe.Graph.Output.All(o => o.Name != n)))
            probe.Graph.Output.Add(OnnxProtos.TensorValue(name, TensorProto.Types.DataType.Float));
        List<OrtValue> inputs = [];
        try
        {
            using var session = OrtSessionFactory.Create(probe.ToByteArray(), modelLabel, threads: 0, cuda: null, optimise: false);
            if (session.InputMetadata.Values.Any(m => m.ElementDataType is not (TensorElementType.Float or TensorElementType.UInt8))) return [];
            inputs = session.InputMetadata.Values.Select(ZeroInput).ToList();
            using var options = new RunOptions();
            using var results = session.Run(options, session.InputMetadata.Keys.ToList(), inputs, names.ToList());
            return names.Select((n, i) => (n, results[i].GetTensorTypeAndShape().Shape)).ToDictionary(x => x.n, x => x.Shape);
        }
        catch (Exception e) when (e is OnnxRuntimeException or InvalidModelException)
        {
            return [];
        }
        finally
        {
            foreach (var input in inputs) input.Dispose();
        }
    }

    /// <summary>Zeros of the input's shape, its open dimensions taken as 1.</summary>
    private static OrtValue ZeroInput(NodeMetadata meta)
    {
        long[] shape = meta.Dimensions.Select(d => d > 0 ? (long)d : 1L).ToArray();
        long length = shape.Aggregate(1L, (a, b) => a * b);
        return meta.ElementDataType == TensorElementType.Float
            ? OrtValue.CreateTensorValueFromMemory(new float[length], shape)
            : OrtValue.CreateTensorValueFromMemory(new byte[length], shape);
    }

    private static bool IsLargestSorted(NodeProto n) =>
        n.Attribute.All(a => a.Name switch { "largest" or "sorted" => a.I == 1, _ => true });

    private static bool IsLastAxis(NodeProto n, int rank)
    {
        long axis = n.Attribute.FirstOrDefault(a => a.Name == "axis")?.I ?? -1;
        return axis == -1 || axis == rank - 1;
    }

    /// <summary>k when it is a constant (an initializer or a Constant node), else null.</summary>
    private static long? ConstantK(GraphProto graph, NodeProto topK)
    {
        if (topK.Input.Count < 2) return null;
        string name = topK.Input[1];
        var tensor = graph.Initializer.FirstOrDefault(t => t.Name == name)
            ?? graph.Node.FirstOrDefault(n => n.OpType == "Constant" && n.Output[0] == name)?.Attribute.FirstOrDefault(a => a.Name == "value")?.T;
        return tensor is not null && OnnxProtos.Int64Values(tensor) is [var k, ..] ? k : null;
    }
}
