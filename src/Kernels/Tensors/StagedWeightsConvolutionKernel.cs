using ILGPU;

namespace MoeDetect.Kernels.Tensors;

/// <summary>Where a convolution's images lie in its input, output and residual (values apart; 0: contiguous, one image's
/// size), and whether it adds the residual (1) after its activation, as the GEMMs' epilogue does: how
/// <see cref="StagedWeightsConvolutionKernel"/> reads a channel range where it lies (a Split's output), writes into a
/// Concat's output in place and ends a bottleneck with its skip connection.</summary>
public struct ImageStrides
{
    public int Input, Output, Residual, AddsResidual;
}

/// <summary>Ungrouped direct convolution for short reductions (the 3 × 3 RGB stem, 16-channel 3 × 3 layers, 1 × 1 layers
/// of few channels), where the implicit GEMM's k-steps are mostly padding (27 of 32 reduction rows at the stem) and its
/// tiles half empty (16 out channels in 32 rows), and 1 × 1 GEMMs move more bytes than they multiply. A group stages
/// the weights of as many blocks of <see cref="OutBlock"/> out channels as its stage holds, tap-major (a tap's 16
/// weights in 64 contiguous bytes), reordered from ONNX's [out, in, kh, kw] as they are staged, zeros past the last out
/// channel; then each thread sums <see cref="PixelsPerThread"/> output pixels of one image, a group's width apart (a
/// warp's loads and stores are of adjacent pixels), block by block: per tap one input load a pixel (the later blocks'
/// from the cache), four 16-byte shared loads that every thread reads at the same address (a broadcast) and 32
/// multiply-adds. The blocked kernel (<see cref="BlockedConvolutionKernel"/>) reads each of its 8 weights a tap from
/// global memory: 8 loads for 8 multiply-adds. Bias, fused activation, then the residual (<see cref="ImageStrides"/>),
/// as the GEMMs' epilogue; FP32 throughout.</summary>
public static class StagedWeightsConvolutionKernel
{
    /// <summary>Out channels a thread sums at once: a block.</summary>
    public const int OutBlock = 16;

    /// <summary>Output pixels a thread sums, a group's width apart.</summary>
    public const int PixelsPerThread = 2;

    /// <summary>Weights the shared stage holds: 10 KB, a block of 160 taps (16 channels of 3 × 3, a 7 × 7 RGB stem).</summary>
    public const int StageValues = 160 * OutBlock;

    /// <summary>Taps (channels × kernel rows × kernel columns) at most: a block's weights fill the stage.</summary>
    public const int MaxTaps = StageValues / OutBlock;

    /// <summary>Threads a group on a GPU.</summary>
    public const int GroupSize = 128;

    /// <summary>Whether the kernel takes g: ungrouped, a reduction the stage holds.</summary>
    public static bool Fits(WindowGeometry g) => g.Groups == 1 && Taps(g) <= MaxTaps;

    private static int Taps(WindowGeometry g) => g.Channels * g.KernelHeight * g.KernelWidth;

    private static int Blocks(WindowGeometry g) => (g.OutChannels + OutBlock - 1) / OutBlock;

    /// <summary>Blocks of out channels a group stages and sums: as many as the stage holds.</summary>
    public static int BlocksPerGroup(WindowGeometry g)
    {
        int all = Blocks(g), fit = StageValues / (Taps(g) * OutBlock);
        return all < fit ? all : fit;
    }

    /// <summary>The launch for g in groups of <paramref name="groupSize"/> threads: x pixel tiles, y the groups of blocks,
    /// z images.</summary>
    public static KernelConfig Launch(WindowGeometry g, int groupSize)
    {
        int tile = PixelsPerThread * groupSize, perGroup = BlocksPerGroup(g);
        return new KernelConfig(
            new Index3D((g.OutHeight * g.OutWidth + tile - 1) / tile, (Blocks(g) + perGroup - 1) / perGroup, g.Batch),
            new Index3D(groupSize, 1, 1));
    }

    /// <param name="w">ONNX's weights [out channels, channels, kernel height, kernel width].</param>
    /// <param name="residual">Read where <paramref name="strides"/> says it is added (else any view).</param>
    public static void Run<TIsa>(ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> residual, ArrayView<float> y,
        WindowGeometry g, ImageStrides strides, Activation activation) where TIsa : struct, ITensorCoreIsa
    {
        // The kernel's one shared allocation (ITensorCoreIsa.SharedBase): [block][tap][16 out channels].
        var stage = SharedMemory.Allocate<uint>(StageValues);
        int taps = Taps(g), blockValues = taps * OutBlock, perGroup = BlocksPerGroup(g), firstBlock = Grid.IdxY * perGroup;
        int left = Blocks(g) - firstBlock, blocks = perGroup < left ? perGroup : left;
        for (int i = Group.IdxX; i < blocks * blockValues; i += Group.DimX)
        {
            int block = i / blockValues, within = i - block * blockValues;
            int outChannel = (firstBlock + block) * OutBlock + within % OutBlock;
            stage[i] = outChannel < g.OutChannels ? Interop.FloatAsInt(w[(long)outChannel * taps + within / OutBlock]) : 0u;
        }
        Group.Barrier();

        int firstPixel = Grid.IdxX * PixelsPerThread * Group.DimX + Group.IdxX, n = Grid.IdxZ;
        var a = new StagedPixel(g, strides, n, firstPixel);
        var b = new StagedPixel(g, strides, n, firstPixel + Group.DimX);
        long plane = (long)g.Height * g.Width;
        uint shared = default(TIsa).SharedBase();
        for (int block = 0; block < blocks; block++)
        {
            int firstOut = (firstBlock + block) * OutBlock;
            var start = BlockSums.Of(bias, firstOut, g.OutChannels);
            BlockSums sumsA = start, sumsB = start;
            uint at = shared + (uint)(block * blockValues * 4);
            for (int c = 0; c < g.Channels; c++)
                for (int ky = 0; ky < g.KernelHeight; ky++)
                    for (int kx = 0; kx < g.KernelWidth; kx++, at += 4 * OutBlock)
                    {
                        var w0 = default(TIsa).SharedQuad(stage, at);
                        var w1 = default(TIsa).SharedQuad(stage, at + 16);
                        var w2 = default(TIsa).SharedQuad(stage, at + 32);
                        var w3 = default(TIsa).SharedQuad(stage, at + 48);
                        sumsA = sumsA.Plus(a.Tap(x, c * plane, ky, kx, g), w0, w1, w2, w3);
                        sumsB = sumsB.Plus(b.Tap(x, c * plane, ky, kx, g), w0, w1, w2, w3);
                    }
            a.Store(y, residual, firstOut, sumsA, g, strides, activation);
            b.Store(y, residual, firstOut, sumsB, g, strides, activation);
        }
    }
}

/// <summary>One output pixel of <see cref="StagedWeightsConvolutionKernel"/> in image n: where its image starts in the
/// input, output and residual, where its window starts, and whether it lies inside the output.</summary>
internal readonly struct StagedPixel
{
    private readonly long _input, _output, _residual;
    private readonly int _pixel, _top, _left, _pixels;
    private readonly bool _valid;

    public StagedPixel(WindowGeometry g, ImageStrides strides, int n, int pixel)
    {
        _pixels = g.OutHeight * g.OutWidth;
        long outImage = (long)g.OutChannels * _pixels;
        _input = PointwiseInput.ImageStart(strides.Input, n, (long)g.Channels * g.Height * g.Width);
        _output = PointwiseInput.ImageStart(strides.Output, n, outImage);
        _residual = PointwiseInput.ImageStart(strides.Residual, n, outImage);
        _pixel = pixel;
        _valid = pixel < _pixels;
        int row = pixel / g.OutWidth;
        _top = row * g.StrideY - g.PadTop;
        _left = (pixel - row * g.OutWidth) * g.StrideX - g.PadLeft;
    }

    /// <summary>The input under tap (ky, kx) of the window in the channel plane <paramref name="channel"/> values into
    /// the image; 0 in the padding and past the last pixel.</summary>
    public float Tap(ArrayView<float> x, long channel, int ky, int kx, WindowGeometry g)
    {
        int iy = _top + ky * g.DilationY, ix = _left + kx * g.DilationX;
        return _valid & (uint)iy < (uint)g.Height & (uint)ix < (uint)g.Width ? x[_input + channel + (long)iy * g.Width + ix] : 0f;
    }

    /// <summary>Stores the pixel's sums of out channels <paramref name="firstOut"/> on (those below g's out channels):
    /// activated, plus the residual where added.</summary>
    public void Store(ArrayView<float> y, ArrayView<float> residual, int firstOut, BlockSums sums, WindowGeometry g, ImageStrides strides,
        Activation activation)
    {
        if (!_valid) return;
        var o = new StagedOutput(y, residual, (long)firstOut * _pixels + _pixel, _output, _residual, _pixels, g.OutChannels - firstOut,
            strides.AddsResidual != 0, activation);
        o.Quad(0, sums.A);
        o.Quad(4, sums.B);
        o.Quad(8, sums.C);
        o.Quad(12, sums.D);
    }
}

/// <summary>Where a pixel's block of sums goes: out channel j of the block at <c>at + j · pixels</c> from its image's
/// start in y (and in the residual); only the first <c>count</c> exist.</summary>
internal readonly record struct StagedOutput(ArrayView<float> Y, ArrayView<float> Residual, long At, long OutImage, long ResidualImage,
    int Pixels, int Count, bool AddsResidual, Activation Activation)
{
    public void Quad(int first, Quad q)
    {
        One(first, q.X);
        One(first + 1, q.Y);
        One(first + 2, q.Z);
        One(first + 3, q.W);
    }

    private void One(int outChannel, float sum)
    {
        if (outChannel >= Count) return;
        long at = At + (long)outChannel * Pixels;
        float v = ElementwiseKernels.ApplyFused(sum, Activation);
        if (AddsResidual) v += Residual[ResidualImage + at];
        Y[OutImage + at] = v;
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
