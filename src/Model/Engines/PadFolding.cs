using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace MoeDetect.Model.Engines;

/// <summary>Folds zero-valued constant Pads into the Conv that reads them (the Conv's own padding), as PyTorch's
/// F.pad for TensorFlow-style "same" padding exports them (the ES-MoE pieces hold 47). ONNX Runtime leaves such a Pad
/// alone, and on the CPU each one costs a copy of its feature map plus a layout change out of and back into the
/// blocked NCHWc format around it: a third of the ES-MoE model's CPU time. The pads are often computed by constant
/// subgraphs, so ONNX Runtime's basic optimisation (constant folding) runs first and its result is rewritten.</summary>
public static class PadFolding
{
    /// <summary>The graph, constants folded, with every foldable Pad folded; the graph as it was when it has no Pad.</summary>
    public static byte[] Apply(byte[] model)
    {
        ModelProto proto;
        try
        {
            if (ModelProto.Parser.ParseFrom(model).Graph.Node.All(n => n.OpType != "Pad")) return model;
            proto = ModelProto.Parser.ParseFrom(ConstantsFolded(model));
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or OnnxRuntimeException)
        {
            return model; // not a valid graph: the session made from it says what is wrong
        }
        var graph = proto.Graph;
        foreach (var pad in graph.Node.Where(n => n.OpType == "Pad").ToList())
        {
            var consumers = graph.Node.Where(n => n.Input.Contains(pad.Output[0])).ToList();
            if (consumers is not [{ OpType: "Conv" } conv] || graph.Output.Any(o => o.Name == pad.Output[0])) continue;
            if (FoldablePads(graph, pad) is not { } pads || !Absorb(conv, pads)) continue;
            conv.Input[0] = pad.Input[0];
            graph.Node.Remove(pad);
        }
        return proto.ToByteArray();
    }

    /// <summary>ONNX Runtime's basic (provider-independent) optimisation of the graph, written out as ONNX.</summary>
    private static byte[] ConstantsFolded(byte[] model)
    {
        string path = Path.Combine(Path.GetTempPath(), $"moedetect-folded-{Guid.NewGuid():N}.onnx");
        try
        {
            using (var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC, OptimizedModelFilePath = path,
                       LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR, IntraOpNumThreads = 1 })
            using (new InferenceSession(model, options))
            {
            }
            return File.ReadAllBytes(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>The Pad's pads (begins then ends per axis) when it pads only spatial axes, by ≥ 0, with zeros
    /// (constant mode, no value or a zero value); otherwise null.</summary>
    private static long[]? FoldablePads(GraphProto graph, NodeProto pad)
    {
        if (pad.Attribute.Any(a => a.Name == "mode" && a.S.ToStringUtf8() != "constant")) return null;
        if (pad.Input.Count < 2 || Int64s(graph, pad.Input[1]) is not { Length: >= 6 } pads || pads.Length % 2 != 0) return null;
        if (pad.Input.Count > 2 && pad.Input[2].Length > 0 && Floats(graph, pad.Input[2]) is not [0f]) return null;
        if (pad.Input.Count > 3 && pad.Input[3].Length > 0) return null;
        int rank = pads.Length / 2;
        bool spatialOnly = pads[0] == 0 && pads[1] == 0 && pads[rank] == 0 && pads[rank + 1] == 0;
        return spatialOnly && pads.All(p => p >= 0) ? pads : null;
    }

    /// <summary>Adds the spatial pads to the Conv's explicit padding; false where the Conv pads automatically.</summary>
    private static bool Absorb(NodeProto conv, long[] pads)
    {
        if (conv.Attribute.Any(a => a.Name == "auto_pad" && a.S.ToStringUtf8() is not ("NOTSET" or ""))) return false;
        int rank = pads.Length / 2, spatial = rank - 2;
        var attribute = conv.Attribute.FirstOrDefault(a => a.Name == "pads");
        var current = attribute?.Ints.ToArray() ?? new long[2 * spatial];
        if (current.Length != 2 * spatial) return false;
        var merged = new long[2 * spatial];
        for (int i = 0; i < spatial; i++)
        {
            merged[i] = current[i] + pads[2 + i];
            merged[spatial + i] = current[spatial + i] + pads[rank + 2 + i];
        }
        if (attribute is not null) conv.Attribute.Remove(attribute);
        conv.Attribute.Add(Loading.OnnxProtos.IntsAttribute("pads", merged));
        return true;
    }

    private static long[]? Int64s(GraphProto graph, string name) =>
        Initializer(graph, name) is { DataType: (int)TensorProto.Types.DataType.Int64 } t
            ? t.Int64Data.Count > 0 ? t.Int64Data.ToArray() : Enumerable.Range(0, t.RawData.Length / 8).Select(i => BitConverter.ToInt64(t.RawData.Span[(8 * i)..])).ToArray()
            : null;

    private static float[]? Floats(GraphProto graph, string name) =>
        Initializer(graph, name) is { DataType: (int)TensorProto.Types.DataType.Float } t
            ? t.FloatData.Count > 0 ? t.FloatData.ToArray() : Enumerable.Range(0, t.RawData.Length / 4).Select(i => BitConverter.ToSingle(t.RawData.Span[(4 * i)..])).ToArray()
            : null;

    private static TensorProto? Initializer(GraphProto graph, string name) => graph.Initializer.FirstOrDefault(t => t.Name == name);
}
