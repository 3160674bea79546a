using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using MoeDetect.Kernels.Tensors;

namespace MoeDetect.Tests.Kernels;

/// <summary>The weights the tensor-core GEMM of an input-scaled pointwise convolution runs on: w[m, k] · scale[n, k] per
/// image, or once where the scale is shared by the images; sized by the geometry's workspace ahead of the split-K partials.</summary>
public class ScaleWeightsTests
{
    [Theory]
    [InlineData(3, 5)] // a scale per image: three matrices
    [InlineData(3, 0)] // one scale for every image: one matrix
    public void Weights_are_scaled_per_image_and_input_channel(int batch, int scaleImageStride)
    {
        const int outChannels = 4, channels = 5, slices = 2, pixels = 7;
        var g = new PointwiseGeometry
        {
            Batch = batch, Channels = channels, OutChannels = outChannels, Pixels = pixels, ScalesInput = 1, ScaleImageStride = scaleImageStride,
            Slices = slices, SliceChannels = 3, TensorCores = 1,
        };
        int matrices = scaleImageStride == 0 ? 1 : batch;
        Assert.Equal((long)matrices * outChannels * channels, g.ScaledWeightsLength);
        Assert.Equal(g.ScaledWeightsLength + (long)slices * batch * outChannels * pixels, g.WorkspaceLength);
        Assert.Equal(0, (g with { TensorCores = 0 }).ScaledWeightsLength);

        var w = Enumerable.Range(0, outChannels * channels).Select(i => 0.5f + i).ToArray();
        var scale = Enumerable.Range(0, batch * channels).Select(i => 1f + i / 8f).ToArray();
        using var context = Context.Create(b => b.CPU());
        using var accelerator = context.CreateCPUAccelerator(0);
        using var wBuffer = accelerator.Allocate1D(w);
        using var scaleBuffer = accelerator.Allocate1D(scale);
        using var scaled = accelerator.Allocate1D<float>(g.ScaledWeightsLength);
        var kernel = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, PointwiseGeometry>(PointwiseConvolutionKernel.ScaleWeights);
        kernel((int)g.ScaledWeightsLength, wBuffer.View, scaleBuffer.View, scaled.View, g);
        accelerator.Synchronize();

        var expected = Enumerable.Range(0, matrices).SelectMany(n => Enumerable.Range(0, outChannels * channels)
            .Select(i => w[i] * scale[n * scaleImageStride + i % channels]));
        Assert.Equal(expected, scaled.GetAsArray1D());
    }
}
