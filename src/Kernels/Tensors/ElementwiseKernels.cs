using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace MoeDetect.Kernels.Tensors;

/// <summary>Pointwise functions, applied alone or fused into the op that produces their input.
/// Alpha/Beta are the ONNX attributes of the function (Clip: min/max, LeakyRelu: alpha, HardSigmoid: alpha/beta).
/// HardSwishRelu6 / HardSigmoidRelu6 are TensorFlow's arithmetic forms, (v·α)·relu6(v + 3) and relu6(v + 3)·α, with
/// the graph's own α (often ⅙ rounded to FP16), computed in the order the unfused graph does.</summary>
public enum UnaryFunction
{
    Identity, Relu, Clip, Sigmoid, LeakyRelu, HardSigmoid, HardSwish, Silu, Floor, Truncate, Exp, Neg, Sqrt, Tanh, Abs,
    Ceil, Round, Reciprocal, Log, HardSwishRelu6, HardSigmoidRelu6,
}

/// <summary>Two-input pointwise operators. IntegerDivide is ONNX Div on integer tensors (truncates), which the engine
/// stores as exact floats. FloorDivide: Floor(a / b), a float Div whose only reader was a Floor. PRelu: a &lt; 0 ? a·b : a.</summary>
public enum BinaryOperator { Add, Sub, Mul, Div, IntegerDivide, Pow, Max, Min, PRelu, Equal, Less, Greater, Mod, FloorDivide }

/// <summary>A unary function with its two parameters, passed by value into kernels.</summary>
public struct Activation(UnaryFunction function, float alpha = 0, float beta = 0)
{
    public UnaryFunction Function = function;
    public float Alpha = alpha, Beta = beta;

    public static Activation None => new(UnaryFunction.Identity);

    /// <summary>Whether a producer (a Conv's or a Concat's kernel) computes f as it stores its output
    /// (<see cref="ElementwiseKernels.ApplyFused"/>): identity and the activations the graph rewrites fuse.</summary>
    public static bool IsFusable(UnaryFunction f) => f is UnaryFunction.Identity or UnaryFunction.Relu or UnaryFunction.Clip
        or UnaryFunction.Sigmoid or UnaryFunction.LeakyRelu or UnaryFunction.HardSigmoid or UnaryFunction.HardSwish
        or UnaryFunction.Silu or UnaryFunction.HardSwishRelu6 or UnaryFunction.HardSigmoidRelu6;
}

public static class ElementwiseKernels
{
    /// <summary>f(v) for any unary function: those a producer can take (<see cref="ApplyFused"/>) and the rest, which
    /// only the Unary kernel and host folding compute.</summary>
    public static float Apply(float v, Activation a) => a.Function switch
    {
        UnaryFunction.Floor => XMath.Floor(v),
        UnaryFunction.Truncate => v >= 0 ? XMath.Floor(v) : XMath.Ceiling(v),
        UnaryFunction.Exp => XMath.Exp(v),
        UnaryFunction.Neg => -v,
        UnaryFunction.Sqrt => XMath.Sqrt(v),
        UnaryFunction.Tanh => XMath.Tanh(v),
        UnaryFunction.Abs => XMath.Abs(v),
        UnaryFunction.Ceil => XMath.Ceiling(v),
        UnaryFunction.Round => XMath.RoundToEven(v),
        UnaryFunction.Reciprocal => 1f / v,
        UnaryFunction.Log => XMath.Log(v),
        _ => ApplyFused(v, a),
    };

    /// <summary>f(v) for the activations a producer computes as it stores (<see cref="Activation.IsFusable"/>): the
    /// kernels that inline it for every value they store (a tensor-core GEMM thread stores 32) stay small. With every
    /// unary function in one switch, the tensor-core GEMM was 14,488 PTX instructions; with these alone, 5,976.</summary>
    public static float ApplyFused(float v, Activation a) => a.Function switch
    {
        UnaryFunction.Relu => v > 0 ? v : 0,
        UnaryFunction.Clip => v < a.Alpha ? a.Alpha : v > a.Beta ? a.Beta : v,
        UnaryFunction.Sigmoid => 1f / (1f + XMath.Exp(-v)),
        UnaryFunction.LeakyRelu => v >= 0 ? v : v * a.Alpha,
        UnaryFunction.HardSigmoid => XMath.Max(0f, XMath.Min(1f, a.Alpha * v + a.Beta)),
        UnaryFunction.HardSwish => v * XMath.Max(0f, XMath.Min(1f, v / 6f + 0.5f)),
        UnaryFunction.Silu => v / (1f + XMath.Exp(-v)),
        UnaryFunction.HardSwishRelu6 => v * a.Alpha * XMath.Min(XMath.Max(v + 3f, 0f), 6f),
        UnaryFunction.HardSigmoidRelu6 => XMath.Min(XMath.Max(v + 3f, 0f), 6f) * a.Alpha,
        _ => v,
    };

    public static float Combine(float a, float b, BinaryOperator op) => op switch
    {
        BinaryOperator.Add => a + b,
        BinaryOperator.Sub => a - b,
        BinaryOperator.Mul => a * b,
        BinaryOperator.Div => a / b,
        BinaryOperator.IntegerDivide => Apply(a / b, new Activation(UnaryFunction.Truncate)),
        BinaryOperator.FloorDivide => Apply(a / b, new Activation(UnaryFunction.Floor)),
        BinaryOperator.Pow => XMath.Pow(a, b),
        BinaryOperator.Max => XMath.Max(a, b),
        BinaryOperator.Min => XMath.Min(a, b),
        BinaryOperator.PRelu => a < 0 ? a * b : a,
        BinaryOperator.Equal => a == b ? 1f : 0f,
        BinaryOperator.Less => a < b ? 1f : 0f,
        BinaryOperator.Greater => a > b ? 1f : 0f,
        BinaryOperator.Mod => a - b * XMath.Floor(a / b),
        _ => a,
    };

    /// <summary>y[i] = f(x[i]).</summary>
    public static void Unary(Index1D i, ArrayView<float> x, ArrayView<float> y, Activation f) => y[i] = Apply(x[i], f);

    /// <summary>y = a ∘ b with numpy broadcasting: both inputs are read through strides (0 along broadcast axes)
    /// over the output's sizes.</summary>
    public static void Binary(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y,
        Dims6 sizes, Dims6 aStrides, Dims6 bStrides, BinaryOperator op) =>
        y[i] = Combine(a[Dims6.Offset(i, sizes, aStrides)], b[Dims6.Offset(i, sizes, bStrides)], op);

    /// <summary>y[i] = a[i] ∘ b[(i / repeat) % bLength]: the common broadcasts of one block of b's values, each repeated
    /// over the <paramref name="repeat"/> values after it (a squeeze-excite gate over NCHW planes; 1 for a per-channel
    /// NHWC bias or a scalar). The general kernel splits the index into six dimensions per operand, which cost a
    /// batch-32 gate several times the memory traffic's time.</summary>
    public static void BinaryBlock(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y,
        int bLength, int repeat, BinaryOperator op) => y[i] = Combine(a[i], b[i / repeat % bLength], op);

    /// <summary>Copies a strided view of x (sizes, strides, start) into a strided view of y, applying the activation
    /// fused into the copying node (a Concat's; identity for the others). Launch it with the dimensions collapsed
    /// (<see cref="Dims6.Collapse"/>): splitting the index costs more than moving the value.</summary>
    public static void Copy(Index1D i, ArrayView<float> x, ArrayView<float> y, Dims6 sizes, Dims6 xStrides, int xStart,
        Dims6 yStrides, int yStart, Activation activation)
    {
        var at = Dims6.Offsets(i, sizes, xStrides, yStrides);
        y[yStart + at.B] = ApplyFused(x[xStart + at.A], activation);
    }

    /// <summary><see cref="Copy"/> four values a thread, as one 16-byte load and store: sizes, strides and starts count
    /// 4-value quads (<see cref="CopyLayout.InQuads"/>: the innermost dimension runs contiguously on both sides, and
    /// everything else lies on quad boundaries). Concat, Split and Slice along any axis but the innermost, moved a value
    /// a thread, ran at a third of the H100's memory bandwidth.</summary>
    public static void CopyQuads(Index1D i, ArrayView<float> x, ArrayView<float> y, Dims6 sizes, Dims6 xStrides, int xStart,
        Dims6 yStrides, int yStart, Activation activation)
    {
        var at = Dims6.Offsets(i, sizes, xStrides, yStrides);
        var y4 = y.AsAligned(16).Cast<Micro4>();
        y4[yStart + at.B] = x.AsAligned(16).Cast<Micro4>()[xStart + at.A].Activated(activation);
    }
}

/// <summary>A strided copy's walk (<see cref="ElementwiseKernels.Copy"/>): sizes, strides and starts of both sides, in values.</summary>
public readonly record struct CopyLayout(Dims6 Sizes, Dims6 XStrides, int XStart, Dims6 YStrides, int YStart)
{
    public int Count => Sizes.D0 * Sizes.D1 * Sizes.D2 * Sizes.D3 * Sizes.D4 * Sizes.D5;

    /// <summary>The same walk in quads of 4 values (<see cref="ElementwiseKernels.CopyQuads"/>), where it divides into
    /// them: the innermost dimension contiguous on both sides and a multiple of 4 long, every other stride and both
    /// starts multiples of 4, both arrays starting on 16 bytes (<paramref name="aligned"/>). Null where not.</summary>
    public CopyLayout? InQuads(bool aligned)
    {
        // Checked at every launch of a plan run without CUDA graphs: plain arithmetic, no allocation.
        if (!aligned || Sizes.D5 % 4 != 0 || XStrides.D5 != 1 || YStrides.D5 != 1 || XStart % 4 != 0 || YStart % 4 != 0
            || !OuterInQuads(XStrides) || !OuterInQuads(YStrides)) return null;
        return new CopyLayout(Sizes with { D5 = Sizes.D5 / 4 }, Quarter(XStrides), XStart / 4, Quarter(YStrides), YStart / 4);
    }

    private static bool OuterInQuads(Dims6 d) => d.D0 % 4 == 0 && d.D1 % 4 == 0 && d.D2 % 4 == 0 && d.D3 % 4 == 0 && d.D4 % 4 == 0;

    private static Dims6 Quarter(Dims6 d) => new(d.D0 / 4, d.D1 / 4, d.D2 / 4, d.D3 / 4, d.D4 / 4, 1);
}
