namespace MoeDetect.Kernels.Tensors;

/// <summary>A fused activation (<see cref="Activation.IsFusable"/>) as a type, for kernels compiled once per activation:
/// the function is then a constant and its epilogue holds that function alone instead of the switch over all of them,
/// which it would otherwise inline for every value it stores (the tensor-core GEMM: 5,976 PTX instructions with every
/// fusable function, 3,704 with SiLU alone). Its parameters (Clip's bounds, LeakyRelu's slope) still come with the launch.</summary>
public interface IFusedFunction
{
    UnaryFunction Function { get; }
}

public readonly struct IdentityFunction : IFusedFunction { public UnaryFunction Function => UnaryFunction.Identity; }
public readonly struct ReluFunction : IFusedFunction { public UnaryFunction Function => UnaryFunction.Relu; }
public readonly struct ClipFunction : IFusedFunction { public UnaryFunction Function => UnaryFunction.Clip; }
public readonly struct SigmoidFunction : IFusedFunction { public UnaryFunction Function => UnaryFunction.Sigmoid; }
public readonly struct LeakyReluFunction : IFusedFunction { public UnaryFunction Function => UnaryFunction.LeakyRelu; }
public readonly struct HardSigmoidFunction : IFusedFunction { public UnaryFunction Function => UnaryFunction.HardSigmoid; }
public readonly struct HardSwishFunction : IFusedFunction { public UnaryFunction Function => UnaryFunction.HardSwish; }
public readonly struct SiluFunction : IFusedFunction { public UnaryFunction Function => UnaryFunction.Silu; }
public readonly struct HardSwishRelu6Function : IFusedFunction { public UnaryFunction Function => UnaryFunction.HardSwishRelu6; }
public readonly struct HardSigmoidRelu6Function : IFusedFunction { public UnaryFunction Function => UnaryFunction.HardSigmoidRelu6; }

/// <summary>Does something generic in the fused function's type (loads a kernel compiled for it).</summary>
public interface IFusedFunctionUse<out TResult>
{
    TResult For<TFunction>() where TFunction : struct, IFusedFunction;
}

public static class FusedFunctions
{
    /// <summary>The activation with its function taken from TFunction: a constant inside a kernel compiled for it.</summary>
    public static Activation Of<TFunction>(Activation activation) where TFunction : struct, IFusedFunction =>
        new FusedFunction(default(TFunction).Function).Of(activation);

    /// <summary><paramref name="use"/> for the type of function f.</summary>
    public static TResult Apply<TResult>(UnaryFunction f, IFusedFunctionUse<TResult> use) => f switch
    {
        UnaryFunction.Identity => use.For<IdentityFunction>(),
        UnaryFunction.Relu => use.For<ReluFunction>(),
        UnaryFunction.Clip => use.For<ClipFunction>(),
        UnaryFunction.Sigmoid => use.For<SigmoidFunction>(),
        UnaryFunction.LeakyRelu => use.For<LeakyReluFunction>(),
        UnaryFunction.HardSigmoid => use.For<HardSigmoidFunction>(),
        UnaryFunction.HardSwish => use.For<HardSwishFunction>(),
        UnaryFunction.Silu => use.For<SiluFunction>(),
        UnaryFunction.HardSwishRelu6 => use.For<HardSwishRelu6Function>(),
        UnaryFunction.HardSigmoidRelu6 => use.For<HardSigmoidRelu6Function>(),
        _ => throw new ArgumentException($"{f} is not fused into a producer's kernel", nameof(f)),
    };
}

/// <summary>A fused activation's function as a value ILGPU's launcher compiles a kernel for
/// (<c>SpecializedValue&lt;FusedFunction&gt;</c>): the kernels it specialises already (the SIMT GEMM per tile, the
/// depthwise ones per window) get their epilogue's function as a constant this way, as <see cref="IFusedFunction"/>
/// gives it to the tensor-core GEMM, which the engine's own loader compiles.</summary>
public readonly record struct FusedFunction(UnaryFunction Function)
{
    /// <summary>The activation with this function (a constant in the specialised kernel) and its own parameters.</summary>
    public Activation Of(Activation activation) => new(Function, activation.Alpha, activation.Beta);
}
