using MoeDetect.Kernels.Tensors;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Pointwise operators: activations and math functions, and binary operators with numpy broadcasting.</summary>
internal sealed partial class OperatorCompiler
{
    private static readonly Dictionary<string, BinaryOperator> BinaryOperators = new()
    {
        ["Add"] = BinaryOperator.Add, ["Sub"] = BinaryOperator.Sub, ["Mul"] = BinaryOperator.Mul, ["Div"] = BinaryOperator.Div,
        ["Pow"] = BinaryOperator.Pow, ["Max"] = BinaryOperator.Max, ["Min"] = BinaryOperator.Min, ["PRelu"] = BinaryOperator.PRelu,
        ["Equal"] = BinaryOperator.Equal, ["Less"] = BinaryOperator.Less, ["Greater"] = BinaryOperator.Greater, ["Mod"] = BinaryOperator.Mod,
    };

    private static readonly Dictionary<string, UnaryFunction> UnaryFunctions = new()
    {
        ["Tanh"] = UnaryFunction.Tanh, ["Exp"] = UnaryFunction.Exp, ["Neg"] = UnaryFunction.Neg, ["Sqrt"] = UnaryFunction.Sqrt,
        ["Abs"] = UnaryFunction.Abs, ["Floor"] = UnaryFunction.Floor, ["Ceil"] = UnaryFunction.Ceil, ["Round"] = UnaryFunction.Round,
        ["Reciprocal"] = UnaryFunction.Reciprocal, ["Log"] = UnaryFunction.Log,
    };

    private void Elementwise()
    {
        if (BinaryOperators.TryGetValue(_node.OpType, out var op))
        {
            if (op == BinaryOperator.Div && _node.Int(GraphFusion.FloorAttribute, 0) == 1)
            {
                op = BinaryOperator.FloorDivide;
                _wholeNumbers.Add(_node.Outputs[0]);
            }
            // Variadic Max/Min/Add fold pairwise.
            var result = Get(0);
            for (int i = 1; i < _node.Inputs.Count; i++) result = BinaryValue(result, Get(i), op, _node.Input(i - 1), _node.Input(i));
            Set(0, result);
            return;
        }
        var f = UnaryFunctions.TryGetValue(_node.OpType, out var u) ? new Activation(u)
            : GraphFusion.ActivationOf(_graph, _node) ?? throw Invalid("Clip bounds must be constants");
        var x = Get(0);
        if (_node.OpType is "Floor" or "Ceil" or "Round") _wholeNumbers.Add(_node.Outputs[0]);
        if (x.Host is { } host) { Set(0, ShapeFolding.Unary(host, f)); return; }
        var input = x.Device!;
        var y = NewTensor(input.Shape, input.IsInteger);
        var kernel = _kernels.Unary;
        Emit(() => kernel(y.Length, input.View, y.View, f), input, y);
        Set(0, y);
    }

    /// <summary>a ∘ b broadcast; folded on the host when both are known there. Integer Div truncates as ONNX says.</summary>
    private Value BinaryValue(Value a, Value b, BinaryOperator op, string? aName = null, string? bName = null)
    {
        var shape = Layout.Broadcast(a.Shape, b.Shape)
            ?? throw Invalid($"shapes [{string.Join(",", a.Shape)}] and [{string.Join(",", b.Shape)}] do not broadcast");
        bool isInteger = op is BinaryOperator.Equal or BinaryOperator.Less or BinaryOperator.Greater || (a.IsInteger && b.IsInteger);
        if (op == BinaryOperator.Div && a.IsInteger && b.IsInteger) op = BinaryOperator.IntegerDivide;
        if (a.Host is { } ha && b.Host is { } hb) return ShapeFolding.Binary(ha, hb, shape, op, isInteger);

        bool commutative = op is BinaryOperator.Add or BinaryOperator.Mul or BinaryOperator.Max or BinaryOperator.Min or BinaryOperator.Equal;
        if (commutative && Elements(a.Shape) < Elements(shape)) (a, b, aName, bName) = (b, a, bName, aName);
        var ta = Device(a, aName);
        var tb = Device(b, bName);
        var y = NewTensor(shape, isInteger);
        if (ta.Length == y.Length && Layout.BlockRepeat(tb.Shape, shape) is { } repeat)
        {
            var block = _kernels.BinaryBlock;
            int bLength = Math.Max(1, tb.Length);
            Emit(() => block(y.Length, ta.View, tb.View, y.View, bLength, repeat, op), ta, tb, y);
        }
        else
        {
            var binary = _kernels.Binary;
            var sizes = Dims6.From(shape, 1);
            var aStrides = Layout.BroadcastStrides(ta.Shape, shape);
            var bStrides = Layout.BroadcastStrides(tb.Shape, shape);
            Emit(() => binary(y.Length, ta.View, tb.View, y.View, sizes, aStrides, bStrides, op), ta, tb, y);
        }
        return y;
    }
}
