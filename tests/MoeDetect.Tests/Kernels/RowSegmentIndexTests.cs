using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;
using Xunit;

namespace MoeDetect.Tests.Kernels;

/// <summary>The row-segment GEMM's operand copies and rounding (<see cref="RowSegmentConvolutionKernel"/>), played on the
/// host thread by thread (TensorCoreEmulationTests run the kernel whole, on a few layers). For every image, tile, split-K slice and k-step of
/// a layer, both tiles: each copy lands in a place no other copy of the k-step takes, 16-byte copies go to and come from
/// 16-byte boundaries, and the stages then hold what the GEMM's definition says: the weight stage w[m, c, ky, kx] at
/// (m − m0, 3 (c − c0) + kx), the B tile x[c, s·y + ky − 1, s·x + kx − 1] (stride s) at (3 (c − c0) + kx, pixel − p0), zeros in the
/// padding, past the pixels and past the out channels.</summary>
public class RowSegmentIndexTests
{
    private const long XBase = 1L << 20, WBase = 1L << 28;
    private const int GroupSize = TensorCoreConvolutionKernel.GroupSize, KStep = RowSegmentConvolutionKernel.KStep;

    public static TheoryData<int, int, int, int, int, int, int, int> Layers => new()
    {
        // warp rows, stride, channels, out channels, input height, input width, image stride (0: the images' own size),
        // slice (0: unsplit)
        // 180 pixels: tiles across rows of 20, the last partly past the pixels; 70 out channels: a tile partly past them.
        { 2, 1, 48, 70, 9, 20, 0, 0 },
        { 1, 1, 48, 70, 9, 20, 0, 0 },
        // Split into slices of whole k-steps that end mid kernel row; images inside a larger tensor.
        { 2, 1, 32, 40, 7, 12, 64 * 7 * 12, 100 },
        { 1, 1, 32, 40, 7, 12, 64 * 7 * 12, 100 },
        // Fewer pixels than a tile: the edges' neighbours lie past the image on both sides.
        { 2, 1, 16, 24, 3, 16, 0, 0 },
        { 1, 1, 16, 24, 3, 4, 0, 0 },
        // Stride 2: output rows of 12 and 8 (tiles across rows), an odd input height (the last windows' bottom row in the
        // padding), split; images inside a larger tensor.
        { 2, 2, 32, 40, 9, 24, 0, 0 },
        { 2, 2, 48, 24, 16, 16, 64 * 16 * 16, 100 },
    };

    [Theory]
    [MemberData(nameof(Layers))]
    public void Each_k_step_stages_the_windows_values_and_the_weights_of_its_kernel_row(int warpRows, int stride, int channels, int outChannels,
        int height, int width, int imageStride, int slice)
    {
        var window = new WindowGeometry
        {
            Batch = 2, Channels = channels, OutChannels = outChannels, Height = height, Width = width,
            OutHeight = (height - 1) / stride + 1, OutWidth = (width - 1) / stride + 1,
            KernelHeight = 3, KernelWidth = 3, StrideY = stride, StrideX = stride, PadTop = 1, PadLeft = 1, DilationY = 1, DilationX = 1, Groups = 1,
        };
        var g = ConvolutionPaths.ImplicitGemm(window) with { InImageStride = imageStride, Slices = 1, SliceChannels = 9 * channels };
        if (slice > 0) g = RowSegmentConvolutionKernel.InWholeSteps(g with { SliceChannels = slice });
        Assert.True(RowSegmentConvolutionKernel.Fits(g));
        Assert.Equal(0, g.SliceChannels % KStep);
        var layer = new Layer(window, imageStride);
        var layout = new TileLayout(warpRows);
        for (int n = 0; n < window.Batch; n++)
            for (int s = 0; s < g.Slices; s++)
            {
                int kBegin = s * g.SliceChannels, kEnd = Math.Min(g.Channels, kBegin + g.SliceChannels);
                for (int m0 = 0; m0 < outChannels; m0 += layout.Rows)
                    for (int p0 = 0; p0 < g.Pixels; p0 += layout.Columns)
                    {
                        var step = KernelRowStep.At(kBegin, channels);
                        int stage = 0;
                        for (int k0 = kBegin; k0 < kEnd; k0 += KStep)
                        {
                            Assert.Equal(KernelRowStep.At(k0, channels), step);
                            AssertInputStep(layer, layout, g, n, p0, step, stage, stride);
                            AssertWeightStep(layer, layout, g, m0, k0, step, stage);
                            step = step.Next(channels);
                            stage = 1 - stage;
                        }
                    }
            }
    }

    private static void AssertInputStep(Layer layer, TileLayout layout, PointwiseGeometry g, int n, int p0, KernelRowStep step, int stage, int stride)
    {
        var words = new Dictionary<int, float>();
        void Land(int word, float value) => Assert.True(words.TryAdd(word, value), $"word {word} copied twice");
        for (int t = 0; t < GroupSize; t++)
        {
            var inputs = new RowSegmentInputs(layout, XBase, g, n, p0, t, stride);
            for (int i = 0; i < inputs.Passes; i++)
                for (int q = 0; q < inputs.ChunksPerPass; q++)
                {
                    var chunk = inputs.Chunk(step, i, q);
                    int word = inputs.ChunkWord(stage, i, q);
                    Assert.Equal(0, word % 4);
                    if (chunk.Valid) Assert.Equal(0, chunk.Address % 16);
                    for (int v = 0; v < 4; v++) Land(word + v, chunk.Valid ? layer.X[(chunk.Address - XBase) / 4 + v] : 0f);
                }
            if (!inputs.CopiesEdge) continue;
            var edge = inputs.Edge(step);
            Land(inputs.EdgeWord(stage), edge.Valid ? layer.X[(edge.Address - XBase) / 4] : 0f);
        }
        int stageWords = RowSegmentInputs.StageWords(layout, stride);
        Assert.All(words.Keys, w => Assert.InRange(w, stage * stageWords, (stage + 1) * stageWords - 1));

        // The rounding pass, thread by thread, into the B tile (values before rounding); neighbours in the warp come from
        // the adjacent lanes' chunks of the same pass (their shuffles), which must be the adjacent chunks.
        var b = new float?[KStep * layout.InputStride];
        var threads = Enumerable.Range(0, GroupSize).Select(t => new RowSegmentInputs(layout, XBase, g, n, p0, t, stride)).ToArray();
        Quad Chunk(int t, int i, int q = 0)
        {
            int at = threads[t].ChunkWord(stage, i, q);
            return new Quad(words[at], words[at + 1], words[at + 2], words[at + 3]);
        }
        // The left neighbour is the previous lane's last input value, the right one the next lane's first.
        float Neighbour(int t, int i, bool inWarp, int lane, int word)
        {
            if (!inWarp) return words[word];
            Assert.Equal(t / 32, lane / 32);
            return lane < t ? Chunk(lane, i, stride - 1).W : Chunk(lane, i).X;
        }
        for (int t = 0; t < GroupSize; t++)
        {
            var inputs = threads[t];
            for (int i = 0; i < inputs.Passes; i++)
            {
                int at = inputs.ChunkWord(stage, i, 0);
                var v = Chunk(t, i);
                var u = Chunk(t, i, stride - 1);
                if (inputs.LeftInWarp) Assert.Equal(at - 4 * stride, threads[t - 1].ChunkWord(stage, i, 0));
                if (inputs.RightInWarp) Assert.Equal(at + 4 * stride, threads[t + 1].ChunkWord(stage, i, 0));
                float left = inputs.ImageLeft ? 0f : Neighbour(t, i, inputs.LeftInWarp, t - 1, at - 1);
                float right = stride == 2 || inputs.ImageRight ? 0f : Neighbour(t, i, inputs.RightInWarp, t + 1, at + 4);
                for (int kx = 0; kx < 3; kx++)
                {
                    var q = inputs.Column(kx, left, v, u, right);
                    int h = inputs.TargetHalf(i, kx);
                    foreach (var (offset, value) in new[] { (0, q.X), (1, q.Y), (2, q.Z), (3, q.W) })
                    {
                        Assert.Null(b[h + offset]);
                        b[h + offset] = value;
                    }
                }
            }
        }
        var win = g.Window;
        for (int r = 0; r < KStep; r++)
            for (int column = 0; column < layout.Columns; column++)
            {
                int c = step.Channel + r / 3, pixel = p0 + column;
                float expected = pixel < g.Pixels
                    ? layer.Input(n, c, stride * (pixel / win.OutWidth) + step.KernelRow - 1, stride * (pixel % win.OutWidth) + r % 3 - 1) : 0f;
                Assert.True(expected == b[r * layout.InputStride + column],
                    $"B row {r} (channel {c}, kernel row {step.KernelRow}, column {r % 3}), pixel {pixel}: {b[r * layout.InputStride + column]}, expected {expected}");
            }
    }

    private static void AssertWeightStep(Layer layer, TileLayout layout, PointwiseGeometry g, int m0, int k0, KernelRowStep step, int stage)
    {
        var halves = new Dictionary<int, ushort>();
        for (int t = 0; t < GroupSize; t++)
        {
            var copies = new RowSegmentWeightCopies(layout, WBase, g, m0, t);
            for (int i = 0; i < copies.Copies; i++)
            {
                if (!copies.Exists(i)) continue;
                var source = copies.Source(k0, i);
                int target = copies.TargetByte(stage, i);
                Assert.Equal(0, target % 16);
                Assert.Equal(0, (source.Address - WBase) % 16);
                for (int h = 0; h < 8; h++)
                    Assert.True(halves.TryAdd(target / 2 + h, source.Valid ? layer.WeightHalves[(source.Address - WBase) / 2 + h] : (ushort)0));
            }
        }
        int stageHalves = 2 * RowSegmentConvolutionKernel.WeightStageWords(layout);
        Assert.Equal(layout.Rows * KStep, halves.Count);
        for (int row = 0; row < layout.Rows; row++)
            for (int r = 0; r < KStep; r++)
            {
                int m = m0 + row;
                ushort expected = m < g.OutChannels ? Bits(layer.Weight(m, step.Channel + r / 3, step.KernelRow, r % 3)) : (ushort)0;
                Assert.Equal(expected, halves[stage * stageHalves + row * RowSegmentConvolutionKernel.WeightStride + r]);
            }
    }

    [Fact]
    public void Weights_go_kernel_row_then_channel_then_kernel_column_in_fp16_the_lower_half_first()
    {
        // w[m, c, ky, kx] = 1000 m + 100 c + 10 ky + kx: 2 out channels × 2 channels.
        var w = new double[2 * 2 * 9];
        for (int m = 0; m < 2; m++)
            for (int c = 0; c < 2; c++)
                for (int tap = 0; tap < 9; tap++) w[(m * 2 + c) * 9 + tap] = 1000 * m + 100 * c + 10 * (tap / 3) + tap % 3;
        var halves = Halves(RowSegmentWeights.From(w, 2, 2));
        var expected = new List<double>();
        for (int m = 0; m < 2; m++)
            for (int ky = 0; ky < 3; ky++)
                for (int c = 0; c < 2; c++)
                    for (int kx = 0; kx < 3; kx++) expected.Add(1000 * m + 100 * c + 10 * ky + kx);
        Assert.Equal(expected, halves.Select(h => (double)BitConverter.UInt16BitsToHalf(h)));
        Assert.Throws<ArgumentException>(() => RowSegmentWeights.From(w, 2, 3));
    }

    [Fact]
    public void Only_padding_1_three_by_three_layers_of_stride_1_or_2_on_output_rows_of_four_and_channels_of_sixteen_fit()
    {
        var fits = new WindowGeometry
        {
            Batch = 1, Channels = 32, OutChannels = 8, Height = 10, Width = 12, OutHeight = 10, OutWidth = 12,
            KernelHeight = 3, KernelWidth = 3, StrideY = 1, StrideX = 1, PadTop = 1, PadLeft = 1, DilationY = 1, DilationX = 1, Groups = 1,
        };
        bool Fits(WindowGeometry w) => RowSegmentConvolutionKernel.Fits(ConvolutionPaths.ImplicitGemm(w));
        Assert.True(Fits(fits));
        Assert.False(Fits(fits with { Width = 10, OutWidth = 10 }));
        Assert.False(Fits(fits with { Channels = 24 }));
        // Stride 2 where the input rows are twice the output's, of a multiple of 4 (here 24 → 12; not 12 → 6, nor 13 → 7).
        Assert.True(Fits(fits with { Width = 24, StrideY = 2, StrideX = 2, OutHeight = 5, OutWidth = 12 }));
        Assert.False(Fits(fits with { StrideY = 2, StrideX = 2, OutHeight = 5, OutWidth = 6 }));
        Assert.False(Fits(fits with { Width = 25, StrideY = 2, StrideX = 2, OutHeight = 5, OutWidth = 13 }));
        Assert.False(Fits(fits with { PadTop = 0, PadLeft = 0, OutHeight = 8, OutWidth = 10 }));
        Assert.False(Fits(fits with { KernelHeight = 1, KernelWidth = 1, PadTop = 0, PadLeft = 0 }));
    }

    [Fact]
    public void Plans_on_row_segments_split_in_whole_k_steps_and_never_tap_major()
    {
        using var device = IlgpuDevice.Open(IlgpuTarget.CpuAccelerator);
        var kernels = new KernelLibrary(device.Accelerator);
        var window = new WindowGeometry
        {
            Batch = 1, Channels = 64, OutChannels = 64, Height = 20, Width = 20, OutHeight = 20, OutWidth = 20,
            KernelHeight = 3, KernelWidth = 3, StrideY = 1, StrideX = 1, PadTop = 1, PadLeft = 1, DilationY = 1, DilationX = 1, Groups = 1,
        };
        var gemm = ConvolutionPaths.ImplicitGemm(window);
        var kinds = new[] { new TensorCoreKind(PointwiseTiling.Square, TensorCorePrecision.Fp16), new TensorCoreKind(PointwiseTiling.Square, TensorCorePrecision.Fp16RowSegments) };
        var plans = kernels.TensorCorePlans(gemm, kinds).ToList();
        var rowSegments = Assert.Single(plans, p => p.TensorCores == TensorCorePrecision.Fp16RowSegments);
        Assert.Equal(0, rowSegments.TapMajor);
        // 7 tiles at batch 1: split-K, in slices of whole 48-row k-steps covering the 576 rows.
        Assert.True(rowSegments.Slices > 1);
        Assert.Equal(0, rowSegments.SliceChannels % KStep);
        Assert.InRange(gemm.Channels, (rowSegments.Slices - 1) * rowSegments.SliceChannels + 1, rowSegments.Slices * rowSegments.SliceChannels);
        // Stride 2 (40 × 40 → 20 × 20): on the square tile only, its stages being too long for the wide one.
        var strided = ConvolutionPaths.ImplicitGemm(window with { Height = 40, Width = 40, StrideY = 2, StrideX = 2, OutChannels = 32 });
        var wideKinds = kinds.Select(k => k with { Tiling = PointwiseTiling.TensorCoreWide }).Concat(kinds).ToArray();
        Assert.Equal([PointwiseTiling.Square], kernels.TensorCorePlans(strided, wideKinds)
            .Where(p => p.TensorCores == TensorCorePrecision.Fp16RowSegments).Select(p => p.Tiling));
        // Rows of 18 values do not fit: no row-segment plan.
        var odd = ConvolutionPaths.ImplicitGemm(window with { Width = 18, OutWidth = 18 });
        Assert.DoesNotContain(kernels.TensorCorePlans(odd, kinds), p => p.TensorCores == TensorCorePrecision.Fp16RowSegments);
    }

    private static ushort Bits(double value) => BitConverter.HalfToUInt16Bits((Half)value);

    private static ushort[] Halves(float[] words) =>
        words.SelectMany(w => { uint bits = BitConverter.SingleToUInt32Bits(w); return new[] { (ushort)bits, (ushort)(bits >> 16) }; }).ToArray();

    /// <summary>A layer's random input (2 images, inside a tensor of the image stride where given) and weights, and the
    /// weights as the kernel reads them.</summary>
    private sealed class Layer
    {
        private readonly WindowGeometry _g;
        private readonly int _imageStride;
        private readonly double[] _w;
        public readonly float[] X;
        public readonly ushort[] WeightHalves;

        public Layer(WindowGeometry g, int imageStride)
        {
            _g = g;
            _imageStride = imageStride == 0 ? g.Channels * g.Height * g.Width : imageStride;
            var random = new Random(3);
            X = Enumerable.Range(0, g.Batch * _imageStride).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            _w = Enumerable.Range(0, g.OutChannels * g.Channels * 9).Select(_ => random.NextDouble() * 2 - 1).ToArray();
            WeightHalves = Halves(RowSegmentWeights.From(_w, g.OutChannels, g.Channels));
        }

        /// <summary>x[n, c, y, x], zero in the padding.</summary>
        public float Input(int n, int c, int y, int x) =>
            (uint)y < (uint)_g.Height && (uint)x < (uint)_g.Width ? X[n * _imageStride + (c * _g.Height + y) * _g.Width + x] : 0f;

        public double Weight(int m, int c, int ky, int kx) => _w[((m * _g.Channels + c) * 3 + ky) * 3 + kx];
    }
}
