using MoeDetect.Kernels.Tensors;
using Xunit;

namespace MoeDetect.Tests.Kernels;

/// <summary>The FP16 tensor-core GEMM's operand loads (<see cref="Fp16TensorCoreConvolutionKernel"/>): besides running the
/// kernel emulated (TensorCoreEmulationTests), where each thread's quads come from and where they go in shared memory is checked here, for
/// both tiles, every thread and both stages: each value of a k-step lands once, at its row and column of the stage, and
/// the places past the operand (rows past the out channels, k past the slice, columns past the pixels) are stored as
/// zeros. <see cref="HalfFragments"/>' ldmatrix rows are checked to cover each warp's block with no bank conflict.</summary>
public class Fp16TensorCoreIndexTests
{
    private const int KStep = TensorCoreConvolutionKernel.KStep;
    // A base address with room below it, 16-byte aligned as the launch requires.
    private const long Base = 1L << 20;

    public static TheoryData<int, int> TilesAndSlices => new() { { 2, 0 }, { 1, 0 }, { 2, 32 }, { 1, 32 } };

    [Theory]
    [MemberData(nameof(TilesAndSlices))]
    public void Each_weight_of_a_k_step_lands_once_at_its_row_and_k(int warpRows, int sliceChannels)
    {
        var layout = new TileLayout(warpRows);
        // 70 out channels: the last row tile is partly past them; 52 channels: the last k-step partly past them.
        var g = new PointwiseGeometry { Batch = 1, Channels = 52, OutChannels = 70, Pixels = 64, Slices = 1, SliceChannels = 52 };
        foreach (var (kBegin, kEnd) in Slices(g.Channels, sliceChannels))
            for (int m0 = 0; m0 < g.OutChannels; m0 += layout.Rows)
                for (int k0 = kBegin; k0 < kEnd; k0 += KStep)
                    for (int stage = 0; stage < 2; stage++)
                    {
                        var landed = new Dictionary<int, (int Row, int K)?>();
                        for (int t = 0; t < TensorCoreConvolutionKernel.GroupSize; t++)
                        {
                            var loads = new WeightQuadLoads(layout, Base, g, m0, t);
                            for (int i = 0; i < loads.Quads; i++)
                                Land(landed, loads.Source(k0, kEnd, i), loads.TargetWord(stage, i), index => ((int)(index / g.Channels), (int)(index % g.Channels)));
                        }
                        int stageHalves = layout.Rows * Fp16TensorCoreConvolutionKernel.WeightStride;
                        Assert.Equal(layout.Rows * KStep, landed.Count);
                        for (int r = 0; r < layout.Rows; r++)
                            for (int kk = 0; kk < KStep; kk++)
                            {
                                int half = stage * stageHalves + r * Fp16TensorCoreConvolutionKernel.WeightStride + kk;
                                (int, int)? expected = m0 + r < g.OutChannels && k0 + kk < kEnd ? (m0 + r, k0 + kk) : null;
                                Assert.Equal(expected, landed[half]);
                            }
                    }
    }

    public static TheoryData<int, int, int> InputCases => new()
    {
        // warp rows, image stride (0: the images' own size), slice channels (0: unsplit)
        { 2, 0, 0 }, { 1, 0, 0 }, { 2, 40 * 100, 32 }, { 1, 40 * 100, 0 },
    };

    [Theory]
    [MemberData(nameof(InputCases))]
    public void Each_input_of_a_k_step_lands_once_at_its_k_and_column(int warpRows, int imageStride, int sliceChannels)
    {
        var layout = new TileLayout(warpRows);
        // 100 pixels: the last column tile is partly past them; 36 channels: the last k-step partly past them.
        var g = new PointwiseGeometry { Batch = 2, Channels = 36, OutChannels = 8, Pixels = 100, Slices = 1, SliceChannels = 36, InImageStride = imageStride };
        const int stagesWord = 1000;
        for (int n = 0; n < g.Batch; n++)
            foreach (var (kBegin, kEnd) in Slices(g.Channels, sliceChannels))
                for (int p0 = 0; p0 < g.Pixels; p0 += layout.Columns)
                    for (int k0 = kBegin; k0 < kEnd; k0 += KStep)
                        for (int stage = 0; stage < 2; stage++)
                        {
                            var landed = new Dictionary<int, (int Row, int K)?>();
                            for (int t = 0; t < TensorCoreConvolutionKernel.GroupSize; t++)
                            {
                                var loads = new InputQuadLoads(layout, Base, g, n, p0, t, stagesWord);
                                for (int i = 0; i < loads.Quads; i++)
                                    Land(landed, loads.Source(k0, kEnd, i), loads.TargetWord(stage, i), index => Unpack(index, g, n));
                            }
                            Assert.Equal(KStep * layout.Columns, landed.Count);
                            for (int kk = 0; kk < KStep; kk++)
                                for (int column = 0; column < layout.Columns; column++)
                                {
                                    int half = 2 * stagesWord + (stage * KStep + kk) * layout.InputStride + column;
                                    (int, int)? expected = k0 + kk < kEnd && p0 + column < g.Pixels ? (k0 + kk, p0 + column) : null;
                                    Assert.Equal(expected, landed[half]);
                                }
                        }
    }

    /// <summary>Both weight strides: the FP16 GEMM's (32 k + 8) and the row-segment GEMM's (48 k + 8).</summary>
    [Theory]
    [InlineData(2, Fp16TensorCoreConvolutionKernel.WeightStride)]
    [InlineData(1, Fp16TensorCoreConvolutionKernel.WeightStride)]
    [InlineData(2, RowSegmentConvolutionKernel.WeightStride)]
    [InlineData(1, RowSegmentConvolutionKernel.WeightStride)]
    public void Each_warps_fragment_rows_cover_its_block_without_bank_conflicts(int warpRows, int weightStride)
    {
        var layout = new TileLayout(warpRows);
        const uint inputWord = 4096;
        for (int warp = 0; warp < 4; warp++)
        {
            var lanes = Enumerable.Range(0, 32).Select(lane => new HalfFragments(layout, 0, (int)inputWord, warp, lane, weightStride)).ToList();
            var f = lanes[0];
            // Matrix j is read by lanes 8j..8j+7, one 16-byte row (8 halves) each, and lands in register j of each lane.
            // m16n8k16's A registers a0..a3 are (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15,
            // k 8-15) of the 16 × 16 A block; the transposing load's registers r0..r3 are b0, b1 of the first 8 columns
            // (k 0-7, k 8-15), then of the next 8: rows of [k][column].
            (int Row, int Column)[] aMatrices = [(0, 0), (8, 0), (0, 8), (8, 8)], bMatrices = [(0, 0), (8, 0), (0, 8), (8, 8)];
            for (int j = 0; j < 4; j++)
            {
                var group = lanes.Skip(8 * j).Take(8).ToList();
                var aRows = group.Select(l => ((int)l.WeightAddress / 2 / weightStride, (int)l.WeightAddress / 2 % weightStride));
                Assert.Equal(Enumerable.Range(0, 8).Select(r => (f.RowBase + aMatrices[j].Row + r, aMatrices[j].Column)), aRows);
                var bRows = group.Select(l => (((int)l.InputAddress - 4 * (int)inputWord) / 2 / layout.InputStride,
                    ((int)l.InputAddress - 4 * (int)inputWord) / 2 % layout.InputStride));
                Assert.Equal(Enumerable.Range(0, 8).Select(k => (bMatrices[j].Row + k, f.ColumnBase + bMatrices[j].Column)), bRows);
            }
            // ldmatrix reads the 8 rows of each matrix (lanes 8j..8j+7) at once: 8 different 16-byte groups of the 128-byte banks.
            foreach (var address in new Func<HalfFragments, uint>[] { l => l.WeightAddress, l => l.InputAddress })
                for (int j = 0; j < 4; j++)
                {
                    var group = lanes.Skip(8 * j).Take(8).Select(address).ToList();
                    Assert.All(group, a => Assert.Equal(0u, a % 16));
                    Assert.Equal(8, group.Select(a => a % 128 / 16).Distinct().Count());
                }
        }
    }

    /// <summary>Slices of the reduction: one, or <paramref name="sliceChannels"/> each (a multiple of the k-step).</summary>
    private static IEnumerable<(int Begin, int End)> Slices(int channels, int sliceChannels)
    {
        int step = sliceChannels == 0 ? channels : sliceChannels;
        for (int begin = 0; begin < channels; begin += step) yield return (begin, Math.Min(channels, begin + step));
    }

    /// <summary>Records what a quad puts in its four halves: the operand's (row, column) of each value, or null for zeros.</summary>
    private static void Land(Dictionary<int, (int, int)?> landed, QuadSource source, int word, Func<long, (int, int)> place)
    {
        for (int v = 0; v < 4; v++)
        {
            int half = 2 * word + v;
            Assert.False(landed.ContainsKey(half), $"half {half} stored twice");
            landed[half] = source.Valid ? place((source.Address - Base) / 4 + v) : null;
        }
    }

    /// <summary>(channel, pixel) of value <paramref name="index"/> of x, which must lie in image <paramref name="n"/>.</summary>
    private static (int, int) Unpack(long index, PointwiseGeometry g, int n)
    {
        long image = PointwiseInput.ImageStart(g.InImageStride, n, (long)g.Channels * g.Pixels), within = index - image;
        Assert.InRange(within, 0, (long)g.Channels * g.Pixels - 1);
        return ((int)(within / g.Pixels), (int)(within % g.Pixels));
    }
}
