using MoeDetect.Kernels.Tensors;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Pad, Where, GatherElements and the boolean operators (booleans are exact 0/1 floats), as PyTorch exports
/// them in the ES-MoE model's pieces: explicit Pad before depthwise convolutions, floor division and box gathering
/// in the detection tail.</summary>
internal sealed partial class OperatorCompiler
{
    /// <summary>Constant-mode Pad with pads known at plan time: the output is filled with the pad value, then the input
    /// is copied into its interior (two strided copies, folded on the host when the input is known there).</summary>
    private void Pad()
    {
        var x = Get(0);
        int rank = x.Shape.Length;
        string mode = _node.Text("mode", "constant");
        if (mode != "constant") throw Invalid($"mode '{mode}' is not supported (only constant)");
        if (_node.Input(3) is not null) throw Invalid("the axes input is not supported; pad every axis");
        var pads = HostInput(1).ToInts();
        if (pads.Length != 2 * rank || pads.Any(p => p < 0)) throw Invalid($"pads [{string.Join(",", pads)}] must be {2 * rank} non-negative values");
        double value = _node.Input(2) is null ? 0 : HostInput(2).Data[0];
        var shape = x.Shape.Select((d, i) => d + pads[i] + pads[i + rank]).ToArray();
        var strides = Layout.Strides(shape);
        int interior = pads.Take(rank).Select((p, i) => p * strides[i]).Sum();
        var fill = new HostTensor([value], [], x.IsInteger);
        Layout.Region[] regions =
        [
            new(0, 0, shape, new int[rank], 0, strides, 0),
            new(1, 0, x.Shape, Layout.Strides(x.Shape), 0, strides, interior),
        ];
        Set(0, Relayout([fill, x], [(shape, x.IsInteger)], regions)[0]);
    }

    /// <summary>Not, And, Or, Xor on 0/1 values through the arithmetic kernels: 1 − x, a·b, max(a, b), 1 − (a = b).</summary>
    private void Logic()
    {
        var one = new HostTensor([1], [], true);
        Value result = _node.OpType switch
        {
            "Not" => BinaryValue(one, Get(0), BinaryOperator.Sub),
            "And" => BinaryValue(Get(0), Get(1), BinaryOperator.Mul, _node.Input(0), _node.Input(1)),
            "Or" => BinaryValue(Get(0), Get(1), BinaryOperator.Max, _node.Input(0), _node.Input(1)),
            _ => BinaryValue(one, BinaryValue(Get(0), Get(1), BinaryOperator.Equal, _node.Input(0), _node.Input(1)), BinaryOperator.Sub),
        };
        Set(0, result);
    }

    private void Where()
    {
        Value condition = Get(0), a = Get(1), b = Get(2);
        var shape = Layout.Broadcast(condition.Shape, a.Shape) is { } ca ? Layout.Broadcast(ca, b.Shape) : null;
        if (shape is null) throw Invalid($"shapes [{string.Join(",", condition.Shape)}], [{string.Join(",", a.Shape)}] and [{string.Join(",", b.Shape)}] do not broadcast");
        var sizes = Dims6.From(shape, 1);
        var (cs, @as, bs) = (Layout.BroadcastStrides(condition.Shape, shape), Layout.BroadcastStrides(a.Shape, shape), Layout.BroadcastStrides(b.Shape, shape));
        bool isInteger = a.IsInteger && b.IsInteger;
        if (condition.Host is { } hc && a.Host is { } ha && b.Host is { } hb)
        {
            var data = new double[Elements(shape)];
            for (int i = 0; i < data.Length; i++)
                data[i] = hc.Data[Dims6.Offset(i, sizes, cs)] != 0 ? ha.Data[Dims6.Offset(i, sizes, @as)] : hb.Data[Dims6.Offset(i, sizes, bs)];
            Set(0, new HostTensor(data, shape, isInteger));
            return;
        }
        var (tc, ta, tb) = (DeviceInput(0), DeviceInput(1), DeviceInput(2));
        var y = NewTensor(shape, isInteger);
        var kernel = _kernels.Where;
        Emit(() => kernel(y.Length, tc.View, ta.View, tb.View, y.View, sizes, cs, @as, bs), tc, ta, tb, y);
        Set(0, y);
    }

    private void GatherElements()
    {
        var x = Get(0);
        var indices = Get(1);
        int rank = x.Shape.Length;
        int axis = Axis(_node.Int("axis", 0), rank);
        if (indices.Shape.Length != rank || indices.Shape.Where((d, i) => i != axis && d > x.Shape[i]).Any())
            throw Invalid($"indices [{string.Join(",", indices.Shape)}] do not fit data [{string.Join(",", x.Shape)}] along axis {axis}");
        var strides = Layout.Strides(x.Shape);
        int axisStride = strides[axis], axisLength = x.Shape[axis];
        strides[axis] = 0;
        var sizes = Dims6.From(indices.Shape, 1);
        var xStrides = Dims6.From(strides, 0);
        if (x.Host is { } hx && indices.Host is { } hi)
        {
            var data = hi.Data.Select((v, i) => hx.Data[Dims6.Offset(i, sizes, xStrides) + ((int)v + (v < 0 ? axisLength : 0)) * axisStride]).ToArray();
            Set(0, new HostTensor(data, indices.Shape, x.IsInteger));
            return;
        }
        var (tx, ti) = (DeviceInput(0), DeviceInput(1));
        var y = NewTensor(indices.Shape, x.IsInteger);
        var kernel = _kernels.GatherElements;
        Emit(() => kernel(y.Length, tx.View, ti.View, y.View, sizes, xStrides, axisStride, axisLength), tx, ti, y);
        Set(0, y);
    }
}
