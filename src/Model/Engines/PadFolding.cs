using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using MoeDetect.Model.Loading;
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

    /// <summary>The Pad's pads (begins then ends per axis) when it pads with zeros (constant mode, no value or a zero
    /// value) and its pads are constant; otherwise null.</summary>
    private static long[]? FoldablePads(GraphProto graph, NodeProto pad)
    {
        if (pad.Attribute.Any(a => a.Name == "mode" && a.S.ToStringUtf8() != "constant")) return null;
        if (pad.Input.Count < 2 || Initializer(graph, pad.Input[1]) is not { } pads) return null;
        if (pad.Input.Count > 2 && pad.Input[2].Length > 0 && (Initializer(graph, pad.Input[2]) is not { } value || OnnxProtos.FloatValues(value) is not [0f]))
            return null;
        if (pad.Input.Count > 3 && pad.Input[3].Length > 0) return null;
        return OnnxProtos.Int64Values(pads);
    }

    /// <summary>Adds the pads to the Conv's explicit padding; false where the Conv pads automatically or the Pad also
    /// pads the batch or channel axis or crops (<see cref="WindowPadding"/>).</summary>
    private static bool Absorb(NodeProto conv, long[] pads)
    {
        if (conv.Attribute.Any(a => a.Name == "auto_pad" && a.S.ToStringUtf8() is not ("NOTSET" or ""))) return false;
        var attribute = conv.Attribute.FirstOrDefault(a => a.Name == "pads");
        if (WindowPadding(pads, attribute?.Ints.ToArray()) is not { } merged) return false;
        if (attribute is not null) conv.Attribute.Remove(attribute);
        conv.Attribute.Add(OnnxProtos.IntsAttribute("pads", merged));
        return true;
    }

    /// <summary>A window's (Conv, pooling) own padding — begins then ends of its spatial axes, null for none — with a
    /// Pad in front of it added (the Pad's begins then ends of every axis, batch and channel first). Null where the
    /// Pad also pads the batch or channel axis, crops (a negative pad), or does not match the window's rank.</summary>
    public static long[]? WindowPadding(long[] pads, long[]? windowPads)
    {
        if (pads.Length < 6 || pads.Length % 2 != 0 || pads.Any(p => p < 0)) return null;
        int rank = pads.Length / 2, spatial = rank - 2;
        if (pads[0] != 0 || pads[1] != 0 || pads[rank] != 0 || pads[rank + 1] != 0) return null;
        var own = windowPads ?? new long[2 * spatial];
        if (own.Length != 2 * spatial) return null;
        var merged = new long[2 * spatial];
        for (int i = 0; i < spatial; i++)
        {
            merged[i] = own[i] + pads[2 + i];
            merged[spatial + i] = own[spatial + i] + pads[rank + 2 + i];
        }
        return merged;
    }

    private static TensorProto? Initializer(GraphProto graph, string name) => graph.Initializer.FirstOrDefault(t => t.Name == name);
}
