using MoeDetect.Conversion.Onnx;
using Onnx;

namespace MoeDetect.Conversion.Tfjs;

/// <summary>Turns the part of a TFJS graph that feeds the requested outputs into an ONNX graph.</summary>
internal static class GraphTranslation
{
    public static GraphProto Translate(TfjsGraphModel model, string inputName, IReadOnlyList<OutputBinding> outputs)
    {
        foreach (var o in outputs)
            if (!model.NodesByName.ContainsKey(TranslationScope.NodeName(o.TfName)))
                throw new ModelConversionException(
                    $"'{model.Path}' has no node '{o.TfName}' for output '{o.OnnxName}'; signature outputs: " +
                    $"{string.Join(", ", model.SignatureOutputs.Select(s => s.Name))}.");
        var order = NodesFeeding(model, outputs.Select(o => TranslationScope.NodeName(o.TfName)));
        RejectUnsupported(model, order);

        var onnx = new OnnxGraphBuilder();
        // Reserve the interface names first, so inner values that share a TF name get a suffix instead.
        var firstInput = onnx.ExactName(inputName);
        var outputNames = outputs.Select(o => onnx.ExactName(o.OnnxName)).ToList();
        var scope = new TranslationScope(onnx, new Dictionary<string, TfjsTensor>(model.Weights));
        var batchGathers = BatchGather.Find(order, scope.Constant);
        var placeholders = 0;
        foreach (var node in order)
        {
            if (node.Op == "Const" || batchGathers.Absorbs(node))
                continue;
            if (node.Op == "Placeholder")
            {
                var name = placeholders++ == 0 ? firstInput : onnx.ExactName(node.Name);
                onnx.Graph.Input.Add(ValueInfo(name, ElementwiseOps.OnnxType(node, "dtype"), node.Shape("shape")));
                scope.BindName(node.Name, name);
                scope.SetGraphInput(name);
            }
            else if (ConstantFolder.TryFold(node, scope.Constant) is { } folded)
                scope.SetConstant(node.Name, folded);
            else if (!batchGathers.TryTranslate(node, scope))
                OpTranslators.For(node.Op)!(node, scope);
        }

        foreach (var (o, outputName) in outputs.Zip(outputNames))
        {
            var signature = model.SignatureOutputs.FirstOrDefault(s => s.Reference == TranslationScope.Key(o.TfName));
            var value = onnx.Node("Identity", [scope.Value(o.TfName)], [outputName]);
            var type = signature?.DType switch
            {
                null or "DT_FLOAT" => TensorProto.Types.DataType.Float,
                "DT_INT32" => TensorProto.Types.DataType.Int32,
                var other => throw new ModelConversionException($"Output '{o.TfName}' has type {other}; only float and int32 outputs are supported."),
            };
            onnx.Graph.Output.Add(ValueInfo(value[0], type, signature?.Shape));
        }
        return onnx.Graph;
    }

    /// <summary>The nodes the outputs depend on, each after its inputs (TFJS files do not list nodes in that order).</summary>
    private static List<TfjsNode> NodesFeeding(TfjsGraphModel model, IEnumerable<string> outputNodes)
    {
        var order = new List<TfjsNode>();
        var state = new Dictionary<string, bool>(); // false: on the stack, true: done
        var stack = new Stack<(TfjsNode Node, int NextInput)>();
        foreach (var root in outputNodes)
        {
            if (state.ContainsKey(root))
                continue;
            stack.Push((model.NodesByName[root], 0));
            state[root] = false;
            while (stack.Count > 0)
            {
                var (node, next) = stack.Pop();
                if (next == node.Inputs.Count)
                {
                    state[node.Name] = true;
                    order.Add(node);
                    continue;
                }
                stack.Push((node, next + 1));
                var input = TranslationScope.NodeName(node.Inputs[next]);
                if (!model.NodesByName.TryGetValue(input, out var producer))
                    throw new ModelConversionException($"'{model.Path}': {node} reads '{node.Inputs[next]}', which no node produces.");
                if (state.TryGetValue(input, out var done))
                {
                    if (!done)
                        throw new ModelConversionException($"'{model.Path}': the graph has a cycle through {producer}.");
                    continue;
                }
                state[input] = false;
                stack.Push((producer, 0));
            }
        }
        return order;
    }

    private static void RejectUnsupported(TfjsGraphModel model, List<TfjsNode> nodes)
    {
        var unsupported = nodes.Where(n => n.Op is not ("Const" or "Placeholder") && OpTranslators.For(n.Op) is null).ToList();
        if (unsupported.Count > 0)
            throw new ModelConversionException(
                $"'{model.Path}' uses TF ops the converter does not translate: " +
                string.Join("; ", unsupported.GroupBy(n => n.Op).Select(g => $"{g.Key} (node '{g.First().Name}'{(g.Count() > 1 ? $" and {g.Count() - 1} more" : "")})")) +
                $". Supported ops: {string.Join(", ", OpTranslators.SupportedOps)}.");
    }

    /// <summary>Interface shapes with the batch open: a leading 1 (TF graphs exported at batch 1) or unknown dims become "N".</summary>
    private static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type, long[]? shape)
    {
        var tensor = new TypeProto.Types.Tensor { ElemType = (int)type };
        if (shape is not null)
        {
            tensor.Shape = new TensorShapeProto();
            for (var i = 0; i < shape.Length; i++)
                tensor.Shape.Dim.Add(shape[i] < 0 || (i == 0 && shape[i] == 1 && shape.Length > 1)
                    ? new TensorShapeProto.Types.Dimension { DimParam = "N" }
                    : new TensorShapeProto.Types.Dimension { DimValue = shape[i] });
        }
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensor } };
    }
}
