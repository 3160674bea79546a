using Google.Protobuf;
using Onnx;

namespace MoeDetect.Model.Ilgpu;

/// <summary>A constant tensor on the host (initializer, Constant node, or a shape computation folded at plan time).
/// Values are doubles so int64 shape arithmetic stays exact; <see cref="IsInteger"/> keeps ONNX's integer semantics.</summary>
internal sealed record HostTensor(double[] Data, int[] Shape, bool IsInteger)
{
    public float[] ToFloats() => Array.ConvertAll(Data, v => (float)v);
    // INT64_MAX (Slice's "to the end") does not survive the trip through a double exactly; saturate it.
    public long[] ToLongs() => Array.ConvertAll(Data, v => v >= long.MaxValue ? long.MaxValue : v <= long.MinValue ? long.MinValue : (long)v);
    public int[] ToInts() => Array.ConvertAll(Data, v => (int)Math.Clamp(v, int.MinValue, int.MaxValue));

    public static HostTensor Integers(IEnumerable<long> data) { var d = data.Select(v => (double)v).ToArray(); return new(d, [d.Length], true); }

    internal static HostTensor FromProto(TensorProto t, string owner)
    {
        int[] shape = t.Dims.Select(d => (int)d).ToArray();
        int count = shape.Aggregate(1, (a, b) => a * b);
        var type = (TensorProto.Types.DataType)t.DataType;
        if (t.ExternalData.Count > 0)
            throw new InvalidModelException($"tensor '{t.Name}' of {owner} keeps its data in an external file; save the model with the weights inside the .onnx");
        double[] data = type switch
        {
            TensorProto.Types.DataType.Float => t.RawData.Length > 0 ? Raw<float>(t.RawData).Select(v => (double)v).ToArray() : t.FloatData.Select(v => (double)v).ToArray(),
            TensorProto.Types.DataType.Double => t.RawData.Length > 0 ? Raw<double>(t.RawData) : t.DoubleData.ToArray(),
            TensorProto.Types.DataType.Int64 => t.RawData.Length > 0 ? Raw<long>(t.RawData).Select(v => (double)v).ToArray() : t.Int64Data.Select(v => (double)v).ToArray(),
            TensorProto.Types.DataType.Int32 => t.RawData.Length > 0 ? Raw<int>(t.RawData).Select(v => (double)v).ToArray() : t.Int32Data.Select(v => (double)v).ToArray(),
            TensorProto.Types.DataType.Uint8 or TensorProto.Types.DataType.Bool => t.RawData.Length > 0 ? t.RawData.Select(v => (double)v).ToArray() : t.Int32Data.Select(v => (double)v).ToArray(),
            TensorProto.Types.DataType.Int8 => t.RawData.Length > 0 ? t.RawData.Select(v => (double)(sbyte)v).ToArray() : t.Int32Data.Select(v => (double)v).ToArray(),
            _ => throw new InvalidModelException($"tensor '{t.Name}' of {owner} has data type {type}, which the ILGPU engine does not read"),
        };
        if (data.Length != count)
            throw new InvalidModelException($"tensor '{t.Name}' of {owner} holds {data.Length} values but its shape [{string.Join(",", shape)}] needs {count}");
        bool isInteger = type is not (TensorProto.Types.DataType.Float or TensorProto.Types.DataType.Double);
        return new HostTensor(data, shape, isInteger);
    }

    private static double[] Raw<T>(ByteString bytes) where T : unmanaged =>
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(bytes.Span).ToArray().Select(v => Convert.ToDouble(v)).ToArray();
}

/// <summary>One operator of the graph, with its attributes, plus the activation fused into it at load.</summary>
internal sealed class GraphNode(string opType, string name, List<string> inputs, List<string> outputs,
    IReadOnlyDictionary<string, AttributeProto> attributes)
{
    public string OpType { get; } = opType;
    public string Name { get; } = name;
    public List<string> Inputs { get; } = inputs;
    public List<string> Outputs { get; } = outputs;
    /// <summary>Load-time rewrites may replace them (an axis moved with a transpose).</summary>
    public IReadOnlyDictionary<string, AttributeProto> Attributes { get; set; } = attributes;
    /// <summary>The activation this node's kernel computes as it stores: only those the epilogues know
    /// (<see cref="Kernels.Tensors.Activation.IsFusable"/>), as any other would be stored unapplied.</summary>
    public Kernels.Tensors.Activation Fused
    {
        get;
        set => field = Kernels.Tensors.Activation.IsFusable(value.Function) ? value
            : throw new ArgumentException($"{value.Function} cannot be fused into {Label}: the kernels compute it only alone");
    } = Kernels.Tensors.Activation.None;

    public string Label => $"{OpType} node '{Name}'";
    public string? Input(int i) => i < Inputs.Count && Inputs[i].Length > 0 ? Inputs[i] : null;
    public long Int(string key, long fallback) => Attributes.TryGetValue(key, out var a) ? a.I : fallback;
    public float Float(string key, float fallback) => Attributes.TryGetValue(key, out var a) ? a.F : fallback;
    public string Text(string key, string fallback) => Attributes.TryGetValue(key, out var a) ? a.S.ToStringUtf8() : fallback;
    public long[]? Ints(string key) => Attributes.TryGetValue(key, out var a) ? a.Ints.ToArray() : null;

    /// <summary>False for a Shape node: it reads only its input's shape, which a plan knows (PyTorch's exports with a
    /// dynamic batch compute reshape targets and chunk sizes from the shapes of values in between).</summary>
    public bool ReadsData => OpType != "Shape";

    /// <summary>A Shape node giving every axis (opset 15's start = 0, no end, as PyTorch writes it, or neither).</summary>
    public bool IsWholeShape => OpType == "Shape" && Int("start", 0) == 0 && !Attributes.ContainsKey("end");
}

/// <summary>An ONNX graph as the ILGPU engine needs it: nodes in topological order, constants on the host,
/// one float input (batch dimension first) and the named outputs.</summary>
internal sealed class OnnxGraph
{
    public required List<GraphNode> Nodes { get; init; }
    public required Dictionary<string, HostTensor> Constants { get; init; }
    public required string InputName { get; init; }
    /// <summary>Input dimensions; -1 where the graph leaves them free (the batch).</summary>
    public required int[] InputShape { get; init; }
    /// <summary>Every graph input with its dimensions, the first being <see cref="InputName"/>; only MoE segments
    /// (parsed with <c>severalInputs</c>) have more than one.</summary>
    public required IReadOnlyList<(string Name, int[] Shape)> Inputs { get; init; }
    /// <summary>The outputs the engine computes and downloads; narrowing them lets load-time pruning drop the rest.</summary>
    public required IReadOnlyList<string> OutputNames { get; set; }
    public required long Opset { get; init; }

    public static OnnxGraph Parse(byte[] bytes, string label, bool severalInputs = false)
    {
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidModelException($"'{label}' is not a valid ONNX model: {e.Message}", e);
        }
        var graph = model.Graph ?? throw new InvalidModelException($"'{label}' is not a valid ONNX model: it has no graph");
        var constants = graph.Initializer.ToDictionary(t => t.Name, t => HostTensor.FromProto(t, $"'{label}'"));
        var nodes = new List<GraphNode>();
        foreach (var n in graph.Node)
        {
            string name = n.Name.Length > 0 ? n.Name : n.Output.FirstOrDefault() ?? $"#{nodes.Count}";
            var attributes = n.Attribute.ToDictionary(a => a.Name);
            if (n.OpType == "Constant")
            {
                constants[n.Output[0]] = ConstantValue(attributes, $"{n.OpType} node '{name}'");
                continue;
            }
            nodes.Add(new GraphNode(n.OpType, name, n.Input.ToList(), n.Output.ToList(), attributes));
        }
        var inputs = graph.Input.Where(i => !constants.ContainsKey(i.Name)).ToList();
        if (inputs.Count == 0 || (inputs.Count > 1 && !severalInputs))
            throw new InvalidModelException($"'{label}' has {inputs.Count} graph inputs ({string.Join(", ", inputs.Select(i => i.Name))}); the ILGPU engine runs graphs with one image input");
        int[] Dims(ValueInfoProto input) => input.Type?.TensorType?.Shape?.Dim.Select(d => d.DimValue > 0 ? (int)d.DimValue : -1).ToArray() ?? [];
        long opset = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(13).Max();
        var parsed = new OnnxGraph
        {
            Nodes = nodes, Constants = constants, InputName = inputs[0].Name, InputShape = Dims(inputs[0]),
            Inputs = inputs.Select(i => (i.Name, Dims(i))).ToList(),
            OutputNames = graph.Output.Select(o => o.Name).ToList(), Opset = opset,
        };
        return parsed;
    }

    private static HostTensor ConstantValue(Dictionary<string, AttributeProto> attributes, string label)
    {
        if (attributes.TryGetValue("value", out var t)) return HostTensor.FromProto(t.T, label);
        if (attributes.TryGetValue("value_float", out var f)) return new HostTensor([f.F], [], false);
        if (attributes.TryGetValue("value_floats", out var fs)) return new HostTensor(fs.Floats.Select(v => (double)v).ToArray(), [fs.Floats.Count], false);
        if (attributes.TryGetValue("value_int", out var i)) return new HostTensor([i.I], [], true);
        if (attributes.TryGetValue("value_ints", out var @is)) return HostTensor.Integers(@is.Ints);
        throw new InvalidModelException($"{label} has no value the ILGPU engine can read");
    }

    /// <summary>A node's integer list given as an attribute (older opsets) or as a constant input (newer ones: Pad's
    /// pads, ReduceMean's and Unsqueeze's axes); null where it is neither (absent, or computed from the image).</summary>
    public long[]? IntsOf(GraphNode node, string attribute, int input) =>
        node.Ints(attribute) ?? (node.Input(input) is { } name && Constants.TryGetValue(name, out var t) ? t.ToLongs() : null);

    /// <summary>How many nodes (those <paramref name="counted"/>, default all) read each value; graph outputs count as
    /// readers so they are never fused away.</summary>
    public Dictionary<string, int> ReaderCounts(Func<GraphNode, bool>? counted = null)
    {
        var counts = new Dictionary<string, int>();
        foreach (var name in Nodes.Where(counted ?? (_ => true)).SelectMany(n => n.Inputs).Concat(OutputNames).Where(n => n.Length > 0))
            counts[name] = counts.GetValueOrDefault(name) + 1;
        return counts;
    }

    /// <summary><see cref="ReaderCounts"/> of the nodes that read data (<see cref="GraphNode.ReadsData"/>).</summary>
    public Dictionary<string, int> DataReaderCounts() => ReaderCounts(n => n.ReadsData);
}
