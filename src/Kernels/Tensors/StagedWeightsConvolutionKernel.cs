using ILGPU;

namespace MoeDetect.Kernels.Tensors;

/// <summary>Ungrouped direct convolution for short reductions (the 3 × 3 RGB stem, 16-channel 3 × 3 layers), where the
/// implicit GEMM's k-steps are mostly padding (27 of 32 reduction rows at the stem) and its tiles half empty (16 out
/// channels in 32 rows). A group stages one block of <see cref="OutBlock"/> out channels' weights in shared memory
/// tap-major (a tap's 16 weights in 64 contiguous bytes, reordered from ONNX's [out, in, kh, kw] as they are staged,
/// zeros past the last out channel), then each thread sums <see cref="PixelsPerThread"/> output pixels of one image,
/// a group's width apart (so that a warp's loads and stores are of adjacent pixels), over them: per tap one input load a
/// pixel, four 16-byte shared loads that every thread reads at the same address (a broadcast), and 32 multiply-adds.
/// The blocked kernel (<see cref="BlockedConvolutionKernel"/>) reads each of its 8 weights a tap from global memory:
/// 8 loads for 8 multiply-adds. Bias and fused activation as the other convolutions; FP32 throughout.</summary>
public static class StagedWeightsConvolutionKernel
{
    /// <summary>Out channels a thread sums, and the block a group stages.</summary>
    public const int OutBlock = 16;

    /// <summary>Output pixels a thread sums, <see cref="Group"/>'s width apart.</summary>
    public const int PixelsPerThread = 2;

    /// <summary>Taps (channels × kernel rows × kernel columns) the shared stage holds: 10 KB, 16 channels of 3 × 3 and a
    /// 7 × 7 RGB stem (147).</summary>
    public const int MaxTaps = 160;

    /// <summary>Threads a group on a GPU.</summary>
    public const int GroupSize = 128;

    /// <summary>Whether the kernel takes g: ungrouped, a reduction the stage holds.</summary>
    public static bool Fits(WindowGeometry g) => g.Groups == 1 && Taps(g) <= MaxTaps;

    private static int Taps(WindowGeometry g) => g.Channels * g.KernelHeight * g.KernelWidth;

    /// <summary>The launch for g in groups of <paramref name="groupSize"/> threads: x pixel tiles, y out-channel blocks,
    /// z images.</summary>
    public static KernelConfig Launch(WindowGeometry g, int groupSize)
    {
        int tile = PixelsPerThread * groupSize;
        return new KernelConfig(
            new Index3D((g.OutHeight * g.OutWidth + tile - 1) / tile, (g.OutChannels + OutBlock - 1) / OutBlock, g.Batch),
            new Index3D(groupSize, 1, 1));
    }

    /// <param name="w">ONNX's weights [out channels, channels, kernel height, kernel width].</param>
    public static void Run<TIsa>(ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y, WindowGeometry g,
        Activation activation) where TIsa : struct, ITensorCoreIsa
    {
        // The kernel's one shared allocation (ITensorCoreIsa.SharedBase): [tap][16 out channels].
        var stage = SharedMemory.Allocate<uint>(MaxTaps * OutBlock);
        int taps = Taps(g), firstOut = Grid.IdxY * OutBlock;
        for (int i = Group.IdxX; i < taps * OutBlock; i += Group.DimX)
        {
            int outChannel = firstOut + i % OutBlock;
            stage[i] = outChannel < g.OutChannels ? Interop.FloatAsInt(w[(long)outChannel * taps + i / OutBlock]) : 0u;
        }
        Group.Barrier();

        int firstPixel = Grid.IdxX * PixelsPerThread * Group.DimX + Group.IdxX;
        var a = new StagedPixel(g, firstPixel);
        var b = new StagedPixel(g, firstPixel + Group.DimX);
        long image = (long)Grid.IdxZ * g.Channels * g.Height * g.Width, plane = (long)g.Height * g.Width;
        var start = BlockSums.Of(bias, firstOut, g.OutChannels);
        BlockSums sumsA = start, sumsB = start;
        uint shared = default(TIsa).SharedBase();
        int tap = 0;
        for (int c = 0; c < g.Channels; c++)
        {
            long channel = image + c * plane;
            for (int ky = 0; ky < g.KernelHeight; ky++)
                for (int kx = 0; kx < g.KernelWidth; kx++, tap++)
                {
                    uint at = shared + (uint)(tap * OutBlock * 4);
                    var w0 = default(TIsa).SharedQuad(stage, at);
                    var w1 = default(TIsa).SharedQuad(stage, at + 16);
                    var w2 = default(TIsa).SharedQuad(stage, at + 32);
                    var w3 = default(TIsa).SharedQuad(stage, at + 48);
                    sumsA = sumsA.Plus(a.Tap(x, channel, ky, kx, g), w0, w1, w2, w3);
                    sumsB = sumsB.Plus(b.Tap(x, channel, ky, kx, g), w0, w1, w2, w3);
                }
        }
        long outImage = (long)Grid.IdxZ * g.OutChannels * a.Pixels;
        a.Store(y, outImage, firstOut, sumsA, g, activation);
        b.Store(y, outImage, firstOut, sumsB, g, activation);
    }
}

/// <summary>One output pixel of <see cref="StagedWeightsConvolutionKernel"/>: where its window starts, and whether it
/// lies inside the output.</summary>
internal readonly struct StagedPixel
{
    private readonly int _pixel, _top, _left;
    private readonly bool _valid;

    public StagedPixel(WindowGeometry g, int pixel)
    {
        Pixels = g.OutHeight * g.OutWidth;
        _pixel = pixel;
        _valid = pixel < Pixels;
        int row = pixel / g.OutWidth;
        _top = row * g.StrideY - g.PadTop;
        _left = (pixel - row * g.OutWidth) * g.StrideX - g.PadLeft;
    }

    /// <summary>Output pixels of an image.</summary>
    public int Pixels { get; }

    /// <summary>The input under tap (ky, kx) of the window in the channel plane from <paramref name="channel"/>; 0 in
    /// the padding and past the last pixel.</summary>
    public float Tap(ArrayView<float> x, long channel, int ky, int kx, WindowGeometry g)
    {
        int iy = _top + ky * g.DilationY, ix = _left + kx * g.DilationX;
        return _valid & (uint)iy < (uint)g.Height & (uint)ix < (uint)g.Width ? x[channel + (long)iy * g.Width + ix] : 0f;
    }

    /// <summary>Stores the pixel's sums of out channels <paramref name="firstOut"/> on (those below g's out channels),
    /// activated, into the image of y from <paramref name="outImage"/>.</summary>
    public void Store(ArrayView<float> y, long outImage, int firstOut, BlockSums sums, WindowGeometry g, Activation activation)
    {
        if (!_valid) return;
        long at = outImage + (long)firstOut * Pixels + _pixel;
        int count = g.OutChannels - firstOut;
        StoreQuad(y, at, 0, count, sums.A, activation);
        StoreQuad(y, at, 4, count, sums.B, activation);
        StoreQuad(y, at, 8, count, sums.C, activation);
        StoreQuad(y, at, 12, count, sums.D, activation);
    }

    private void StoreQuad(ArrayView<float> y, long at, int first, int count, Quad q, Activation activation)
    {
        StoreOne(y, at, first, count, q.X, activation);
        StoreOne(y, at, first + 1, count, q.Y, activation);
        StoreOne(y, at, first + 2, count, q.Z, activation);
        StoreOne(y, at, first + 3, count, q.W, activation);
    }

    private void StoreOne(ArrayView<float> y, long at, int outChannel, int count, float sum, Activation activation)
    {
        if (outChannel < count) y[at + (long)outChannel * Pixels] = ElementwiseKernels.ApplyFused(sum, activation);
    }
}

/// <summary>A pixel's sums over a block of 16 out channels, 4 a <see cref="Quad"/>.</summary>
internal readonly record struct BlockSums(Quad A, Quad B, Quad C, Quad D)
{
    /// <summary>The block's biases (zeros past the last out channel).</summary>
    public static BlockSums Of(ArrayView<float> bias, int firstOut, int outChannels) => new(
        BiasQuad(bias, firstOut, outChannels), BiasQuad(bias, firstOut + 4, outChannels),
        BiasQuad(bias, firstOut + 8, outChannels), BiasQuad(bias, firstOut + 12, outChannels));

    private static Quad BiasQuad(ArrayView<float> bias, int first, int outChannels) => new(
        first < outChannels ? bias[first] : 0f, first + 1 < outChannels ? bias[first + 1] : 0f,
        first + 2 < outChannels ? bias[first + 2] : 0f, first + 3 < outChannels ? bias[first + 3] : 0f);

    /// <summary>The sums plus v times each out channel's weight of the tap (w0 … w3, 4 out channels each).</summary>
    public BlockSums Plus(float v, Quad w0, Quad w1, Quad w2, Quad w3) =>
        new(A.PlusScaled(v, w0), B.PlusScaled(v, w1), C.PlusScaled(v, w2), D.PlusScaled(v, w3));
}
