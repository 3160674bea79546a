namespace MoeDetect.Conversion.Tfjs;

/// <summary>
/// Evaluates, at conversion time, the integer shape arithmetic that some exporters leave in the graph (onnx-tf writes
/// Reshape targets as "shape + SparseToDense(no indices)"), so ops that need constant shapes still see constants.
/// </summary>
internal static class ConstantFolder
{
    /// <summary>The node's value when it is integer arithmetic over constants; otherwise null and the node is translated.</summary>
    public static TfjsTensor? TryFold(TfjsNode node, Func<string, TfjsTensor?> constant)
    {
        var inputs = node.Inputs.Select(constant).ToArray();
        if (inputs.Length == 0 || inputs.Any(i => i is null || i.DType != TfjsDType.Int32))
            return null;
        return node.Op switch
        {
            "Identity" => inputs[0],
            "Add" or "AddV2" => Elementwise(inputs[0]!, inputs[1]!, (a, b) => a + b),
            "Sub" => Elementwise(inputs[0]!, inputs[1]!, (a, b) => a - b),
            "Mul" => Elementwise(inputs[0]!, inputs[1]!, (a, b) => a * b),
            "SparseToDense" => SparseToDense(inputs[0]!, inputs[1]!, inputs[2]!, inputs[3]!),
            _ => null,
        };
    }

    /// <summary>Same-shape or scalar-operand arithmetic; anything else is left to ONNX.</summary>
    private static TfjsTensor? Elementwise(TfjsTensor a, TfjsTensor b, Func<int, int, int> op)
    {
        if (b.ElementCount == 1 && b.Shape.Length == 0)
            return TfjsTensor.OfInts(a.Ints!.Select(v => op(v, b.Ints![0])).ToArray(), a.Shape);
        if (a.ElementCount == 1 && a.Shape.Length == 0)
            return TfjsTensor.OfInts(b.Ints!.Select(v => op(a.Ints![0], v)).ToArray(), b.Shape);
        return a.Shape.SequenceEqual(b.Shape) ? TfjsTensor.OfInts(a.Ints!.Zip(b.Ints!, op).ToArray(), a.Shape) : null;
    }

    /// <summary>tf.sparse_to_dense: indices [n, rank] (or [n] for rank 1), values [n] or a scalar, the rest default.</summary>
    private static TfjsTensor SparseToDense(TfjsTensor indices, TfjsTensor outputShape, TfjsTensor values, TfjsTensor fallback)
    {
        var shape = outputShape.Ints!.ToArray();
        var dense = Enumerable.Repeat(fallback.Ints![0], shape.Aggregate(1, (a, b) => a * b)).ToArray();
        var rank = shape.Length;
        var count = indices.Shape.Length == 0 ? 1 : indices.Shape[0];
        for (var n = 0; n < count; n++)
        {
            var flat = 0;
            for (var d = 0; d < rank; d++)
                flat = flat * shape[d] + indices.Ints![n * rank + d];
            dense[flat] = values.ElementCount == 1 ? values.Ints![0] : values.Ints![n];
        }
        return TfjsTensor.OfInts(dense, shape);
    }
}
