using ILGPU.Runtime;
using MoeDetect.Kernels.Tensors;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Checks the tensor-core GEMM (<see cref="TensorCoreConvolutionKernel"/>) against the FP32 SIMT GEMM on this
/// device before plans may use it: CI runs it only emulated (<see cref="EmulatedIsa"/>), so a device whose driver or
/// architecture makes it compute something else must find out before it serves a frame. Layers whose sizes fill no tile
/// exactly, with random data: 1×1 convolutions and padded 3×3 ones (the implicit GEMM's windows, channel- and tap-major),
/// with rows the copies take in 16-byte chunks and rows they take value by value, the 1×1 ones also with an input scale. Each tile shape and precision is checked on its own (all layers,
/// whatever their out channels, that its kernel takes: <see cref="KernelLibrary.Takes"/>), so that one that fails here
/// keeps only itself out of the plans.</summary>
internal static class TensorCoreCheck
{
    /// <summary>Largest difference allowed, relative to the largest output: TF32 and FP16 keep 10 mantissa bits (a
    /// relative rounding of 2⁻¹¹ an operand), which over these reductions stays near 10⁻³; a wrong index is of the order of 1.</summary>
    public const double Tolerance = 1e-2;

    private static readonly WindowGeometry[] Layers =
    [
        new() { Batch = 2, Channels = 72, OutChannels = 40, Height = 17, Width = 59, OutHeight = 17, OutWidth = 59,
            KernelHeight = 1, KernelWidth = 1, StrideY = 1, StrideX = 1, DilationY = 1, DilationX = 1, Groups = 1 },
        new() { Batch = 2, Channels = 19, OutChannels = 70, Height = 23, Width = 29, OutHeight = 12, OutWidth = 15,
            KernelHeight = 3, KernelWidth = 3, StrideY = 2, StrideX = 2, PadTop = 1, PadLeft = 1, DilationY = 1, DilationX = 1, Groups = 1 },
        // Rows of an odd number of values: weights and inputs copied value by value (with an input scale too).
        new() { Batch = 2, Channels = 37, OutChannels = 20, Height = 13, Width = 11, OutHeight = 13, OutWidth = 11,
            KernelHeight = 1, KernelWidth = 1, StrideY = 1, StrideX = 1, DilationY = 1, DilationX = 1, Groups = 1 },
        // Rows of a multiple of 4 values: weights (both) and inputs (the 1×1) copied in 16-byte chunks.
        new() { Batch = 2, Channels = 68, OutChannels = 36, Height = 12, Width = 20, OutHeight = 12, OutWidth = 20,
            KernelHeight = 1, KernelWidth = 1, StrideY = 1, StrideX = 1, DilationY = 1, DilationX = 1, Groups = 1 },
        new() { Batch = 2, Channels = 20, OutChannels = 33, Height = 9, Width = 14, OutHeight = 9, OutWidth = 14,
            KernelHeight = 3, KernelWidth = 3, StrideY = 1, StrideX = 1, PadTop = 1, PadLeft = 1, DilationY = 1, DilationX = 1, Groups = 1 },
        // Channels in whole tap rows: the reduction runs tap-major (TensorCoreConvolutionKernel.TapMajorFits).
        new() { Batch = 2, Channels = 48, OutChannels = 40, Height = 11, Width = 21, OutHeight = 11, OutWidth = 21,
            KernelHeight = 3, KernelWidth = 3, StrideY = 1, StrideX = 1, PadTop = 1, PadLeft = 1, DilationY = 1, DilationX = 1, Groups = 1 },
        new() { Batch = 2, Channels = 16, OutChannels = 24, Height = 15, Width = 18, OutHeight = 8, OutWidth = 9,
            KernelHeight = 3, KernelWidth = 3, StrideY = 2, StrideX = 2, PadTop = 1, PadLeft = 1, DilationY = 1, DilationX = 1, Groups = 1 },
        // Row segments (RowSegmentConvolutionKernel.Fits), stride 1: tiles across several image rows, the last one partly past the
        // pixels; 48 channels, three channel blocks a kernel row; rows of 12, a tile's edge neighbours on other rows.
        new() { Batch = 2, Channels = 48, OutChannels = 40, Height = 9, Width = 20, OutHeight = 9, OutWidth = 20,
            KernelHeight = 3, KernelWidth = 3, StrideY = 1, StrideX = 1, PadTop = 1, PadLeft = 1, DilationY = 1, DilationX = 1, Groups = 1 },
        new() { Batch = 2, Channels = 16, OutChannels = 70, Height = 11, Width = 12, OutHeight = 11, OutWidth = 12,
            KernelHeight = 3, KernelWidth = 3, StrideY = 1, StrideX = 1, PadTop = 1, PadLeft = 1, DilationY = 1, DilationX = 1, Groups = 1 },
        // Row segments of stride 2: input rows twice the output's; an odd input height (the last window's bottom row in
        // the padding); 32 channels, two channel blocks a kernel row.
        new() { Batch = 2, Channels = 32, OutChannels = 24, Height = 9, Width = 24, OutHeight = 5, OutWidth = 12,
            KernelHeight = 3, KernelWidth = 3, StrideY = 2, StrideX = 2, PadTop = 1, PadLeft = 1, DilationY = 1, DilationX = 1, Groups = 1 },
    ];

    /// <summary>Null where every layer agrees within <see cref="Tolerance"/>, else what differed (or why the kernel
    /// could not be compiled or loaded here).</summary>
    public static string? Disagreement(KernelLibrary kernels, TensorCoreKind kind)
    {
        try
        {
            return Compare(kernels, kind);
        }
        catch (Exception e) when (e is ILGPU.InternalCompilerException or ILGPU.Runtime.Cuda.CudaException or NotSupportedException)
        {
            return $"the tensor-core kernel does not run on this device ({e.GetType().Name}: {e.Message})";
        }
    }

    private static string? Compare(KernelLibrary kernels, TensorCoreKind kind)
    {
        var random = new Random(7);
        float[] Values(long count) => Enumerable.Range(0, (int)count).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var accelerator = kernels.Accelerator;
        // The 1×1 layers also with an input scale per image and channel (weights scaled per image on tensor cores).
        foreach (var (g, scaled) in Layers.SelectMany(l => l.KernelHeight == 1 ? new[] { (l, false), (l, true) } : [(l, false)]))
        {
            var gemm = ConvolutionPaths.Gemm(ConvolutionPaths.Of(g), g) with { ScalesInput = scaled ? 1 : 0, ScaleImageStride = scaled ? g.Channels : 0 };
            if (!KernelLibrary.Takes(kind, gemm)) continue;
            var simt = kernels.PlanPointwise(gemm, PointwiseTiling.Square);
            var tensor = kernels.PlanTensorCores(gemm, kind.Tiling, kind.Precision);
            long outputs = (long)g.Batch * g.OutChannels * g.OutHeight * g.OutWidth;
            using var x = accelerator.Allocate1D(Values((long)g.Batch * g.Channels * g.Height * g.Width));
            using var scale = accelerator.Allocate1D(Values((long)g.Batch * g.Channels));
            using var w = new GemmWeightBuffers(accelerator, Values((long)g.OutChannels * g.Channels * g.KernelHeight * g.KernelWidth), g);
            using var bias = accelerator.Allocate1D(Values(g.OutChannels));
            using var y = accelerator.Allocate1D<float>(outputs);
            using var workspace = accelerator.Allocate1D<float>(Math.Max(1, Math.Max(simt.WorkspaceLength, tensor.WorkspaceLength)));
            float[] Run(PointwiseGeometry p)
            {
                kernels.PointwiseConvolution(x.View, scale.View, w.For(p), bias.View, y.View, workspace.View, y.View, p, Activation.None);
                kernels.Stream.Synchronize();
                return y.GetAsArray1D();
            }
            var expected = Run(simt);
            var actual = Run(tensor);
            float largest = expected.Max(Math.Abs), worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
            if (!(worst <= Tolerance * largest))
                return $"{g.Channels}→{g.OutChannels} {g.KernelHeight}×{g.KernelWidth} convolution{(scaled ? " with an input scale" : "")}: differs by up to {worst} from the FP32 GEMM (largest output {largest})";
        }
        return null;
    }
}
