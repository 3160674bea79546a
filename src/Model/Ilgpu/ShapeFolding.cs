using MoeDetect.Kernels.Tensors;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Evaluates on the host what a plan can know before any image arrives: shape arithmetic and operators
/// whose inputs are all constants. It uses the kernels' own index and arithmetic functions, so a folded value is
/// what the device would have computed.</summary>
internal static class ShapeFolding
{
    public static HostTensor Unary(HostTensor x, Activation f) =>
        x with { Data = Array.ConvertAll(x.Data, v => (double)ElementwiseKernels.Apply((float)v, f)) };

    public static HostTensor Binary(HostTensor a, HostTensor b, int[] shape, BinaryOperator op, bool isInteger)
    {
        var data = new double[Math.Max(0, shape.Aggregate(1, (p, d) => p * d))];
        var sizes = Dims6.From(shape, 1);
        var aStrides = Layout.BroadcastStrides(a.Shape, shape);
        var bStrides = Layout.BroadcastStrides(b.Shape, shape);
        for (int i = 0; i < data.Length; i++)
        {
            double x = a.Data[Dims6.Offset(i, sizes, aStrides)], y = b.Data[Dims6.Offset(i, sizes, bStrides)];
            // Integer shape arithmetic stays exact in doubles; floats go through the kernels' own arithmetic.
            data[i] = isInteger && op is BinaryOperator.Add or BinaryOperator.Sub or BinaryOperator.Mul or BinaryOperator.IntegerDivide
                ? op switch
                {
                    BinaryOperator.Add => x + y,
                    BinaryOperator.Sub => x - y,
                    BinaryOperator.Mul => x * y,
                    _ => Math.Truncate(x / y),
                }
                : ElementwiseKernels.Combine((float)x, (float)y, op);
        }
        return new HostTensor(data, shape, isInteger);
    }

    /// <summary>Runs a set of strided copies (see <see cref="Layout.Region"/>) on host tensors.</summary>
    public static HostTensor[] Copy(IReadOnlyList<HostTensor> sources, IReadOnlyList<(int[] Shape, bool IsInteger)> targets,
        IEnumerable<Layout.Region> regions)
    {
        var results = targets.Select(t => new HostTensor(new double[t.Shape.Aggregate(1, (p, d) => p * d)], t.Shape, t.IsInteger)).ToArray();
        foreach (var r in regions)
        {
            var src = sources[r.Source].Data; var dst = results[r.Target].Data;
            var sizes = Dims6.From(r.Sizes, 1);
            var sStrides = Dims6.From(r.SourceStrides, 0); var tStrides = Dims6.From(r.TargetStrides, 0);
            int count = r.Sizes.Aggregate(1, (p, d) => p * d);
            for (int i = 0; i < count; i++)
                dst[r.TargetStart + Dims6.Offset(i, sizes, tStrides)] = src[r.SourceStart + Dims6.Offset(i, sizes, sStrides)];
        }
        return results;
    }

    public static HostTensor Gather(HostTensor data, HostTensor indices, int axis)
    {
        var (outer, length, inner) = Layout.Split3(data.Shape, axis, axis + 1);
        int[] shape = [.. data.Shape[..axis], .. indices.Shape, .. data.Shape[(axis + 1)..]];
        var result = new double[outer * indices.Data.Length * inner];
        for (int o = 0; o < outer; o++)
            for (int k = 0; k < indices.Data.Length; k++)
            {
                int index = (int)indices.Data[k];
                if (index < 0) index += length;
                Array.Copy(data.Data, (o * length + index) * inner, result, (o * indices.Data.Length + k) * inner, inner);
            }
        return new HostTensor(result, shape, data.IsInteger);
    }

    /// <summary>ConstantOfShape (shape, value attribute) and Range (start, limit, delta).</summary>
    public static HostTensor Generate(GraphNode node, HostTensor first, HostTensor? second, HostTensor? third)
    {
        if (node.OpType == "ConstantOfShape")
        {
            var shape = first.ToInts();
            var value = node.Attributes.TryGetValue("value", out var a) ? HostTensor.FromProto(a.T, node.Label) : new HostTensor([0], [1], false);
            var data = new double[shape.Aggregate(1, (p, d) => p * d)];
            Array.Fill(data, value.Data[0]);
            return new HostTensor(data, shape, value.IsInteger);
        }
        double start = first.Data[0], limit = second!.Data[0], delta = third!.Data[0];
        int count = Math.Max(0, (int)Math.Ceiling((limit - start) / delta));
        return new HostTensor(Enumerable.Range(0, count).Select(i => start + i * delta).ToArray(), [count], first.IsInteger);
    }
}
