using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;

namespace MoeDetect.Tests.Kernels;

/// <summary>The tensor-core GEMM applies an input scale (a squeeze-excite gate) to the weights its threads copied into
/// shared memory (<see cref="TileCopies.ScaleWeights"/>). The CPU accelerator runs no PTX, so the copies themselves
/// cannot run here; this checks the threads' share of the scaling against the stage layout the multiplies read
/// (word row · <see cref="TensorCoreConvolutionKernel.WeightStride"/> + k holds w[m0 + row, k0 + k]): over a group's
/// 128 threads every weight word of a stage is scaled exactly once, by its own channel's scale, for both tiles, weights
/// copied value by value and in chunks, a slice ending inside the k-step, and a scale per image or one for all.</summary>
public class TensorCoreWeightScaleTests
{
    [Theory]
    [InlineData(2, 37, 0, true)] // 64 × 64 tiles, weights copied value by value, a scale per image
    [InlineData(2, 68, 1, false)] // in 16-byte chunks, one scale for all images
    [InlineData(1, 37, 0, false)] // 32 × 128 tiles
    [InlineData(1, 68, 1, true)]
    public void Every_weight_of_a_stage_takes_its_channels_scale_once(int warpRows, int channels, int weightChunks, bool scalePerImage)
    {
        const int outChannels = 70, batch = 2, n = 1, kStep = TensorCoreConvolutionKernel.KStep;
        var layout = new TileLayout(warpRows);
        var g = new PointwiseGeometry
        {
            Batch = batch, Channels = channels, OutChannels = outChannels, Pixels = 300, Slices = 1, SliceChannels = channels,
            ScalesInput = 1, ScaleImageStride = scalePerImage ? channels : 0, TensorCores = 1, WeightChunks = weightChunks,
        };
        using var context = Context.Create(b => b.CPU());
        using var accelerator = context.CreateCPUAccelerator(0);
        var scales = Enumerable.Range(0, batch * channels).Select(i => 1f + i).ToArray();
        using var scale = accelerator.Allocate1D(scales);
        long scaleAt = (long)n * g.ScaleImageStride;
        // The last k-step of the reduction: its slice ends inside it, past which the weights are padding.
        int k0 = (channels - 1) / kStep * kStep, stage = 1, m0 = layout.Rows;
        float Weight(int row, int k) => m0 + row < outChannels && k0 + k < channels ? 0.5f + row + 0.01f * k : 0f;
        var stageWords = new uint[2 * layout.WeightStage];
        for (int row = 0; row < layout.Rows; row++)
            for (int k = 0; k < kStep; k++)
                stageWords[stage * layout.WeightStage + row * TensorCoreConvolutionKernel.WeightStride + k] = BitConverter.SingleToUInt32Bits(Weight(row, k));
        using var tiles = accelerator.Allocate1D(stageWords);

        for (int t = 0; t < TensorCoreConvolutionKernel.GroupSize; t++)
        {
            var copies = new TileCopies(layout, 0, 0, g, n, m0, 0, t, 0, 0);
            copies.ScaleWeights(tiles.View, stage, copies.Scales(scale.View, scaleAt, k0, channels));
        }

        var scaled = tiles.GetAsArray1D();
        for (int row = 0; row < layout.Rows; row++)
            for (int k = 0; k < kStep; k++)
            {
                float expected = k0 + k < channels ? Weight(row, k) * scales[scaleAt + k0 + k] : 0f;
                float actual = BitConverter.UInt32BitsToSingle(scaled[stage * layout.WeightStage + row * TensorCoreConvolutionKernel.WeightStride + k]);
                if (actual != expected) Assert.Fail($"row {row}, k {k0 + k}: {actual}, not {expected}");
            }
        Assert.All(scaled.Take(layout.WeightStage), word => Assert.Equal(0u, word));
    }
}
