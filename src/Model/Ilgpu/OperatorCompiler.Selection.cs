using MoeDetect.Kernels.Tensors;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Where, GatherElements and the boolean operators (booleans are exact 0/1 floats), as PyTorch exports them in
/// the ES-MoE model's pieces: floor division and box gathering in the detection tail. (Their explicit Pads before
/// depthwise convolutions are in OperatorCompiler.Layout.)</summary>
internal sealed partial class OperatorCompiler
{
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
