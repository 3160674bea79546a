using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;
using MoeDetect.Tests.Ilgpu;

namespace MoeDetect.Tests.Kernels;

/// <summary>Resize's 4-outputs-a-thread kernel against the one-output kernel, on a CPU accelerator with the GPU's group
/// shapes: each output is computed the same way, so equal to the last bit. Up- and downsampling, every coordinate mode,
/// nearest and bilinear, and an output written into a Concat's (images a larger stride apart) with an activation.</summary>
public class ResizeSpansTests
{
    [Theory]
    [InlineData(1, ResizeCoordinates.Asymmetric, 16, 16, 32, 32, false)]       // TensorFlow's ResizeBilinear ×2 (CenterNet)
    [InlineData(1, ResizeCoordinates.HalfPixel, 5, 7, 10, 12, false)]
    [InlineData(1, ResizeCoordinates.AlignCorners, 9, 6, 4, 8, true)]
    [InlineData(1, ResizeCoordinates.PytorchHalfPixel, 3, 3, 1, 4, false)]
    [InlineData(0, ResizeCoordinates.HalfPixel, 5, 7, 10, 16, true)]
    [InlineData(0, ResizeCoordinates.TfHalfPixelForNearest, 8, 8, 12, 4, false)]
    public void Four_outputs_a_thread_match_one_output_a_thread(int linear, ResizeCoordinates coordinates, int inHeight, int inWidth,
        int outHeight, int outWidth, bool placed)
    {
        const int images = 2, channels = 3;
        var g = new ResizeGeometry
        {
            Planes = images * channels, InHeight = inHeight, InWidth = inWidth, OutHeight = outHeight, OutWidth = outWidth,
            ScaleY = (float)outHeight / inHeight, ScaleX = (float)outWidth / inWidth, Coordinates = coordinates,
            Rounding = NearestRounding.RoundPreferCeil, Linear = linear,
            // Placed: the first 3 of 5 channels of a Concat's output.
            OutImageStride = placed ? 5 * outHeight * outWidth : 0, PlanesPerImage = channels,
        };
        Assert.True(ResizeKernel.SpansFit(g));
        var activation = new Activation(placed ? UnaryFunction.HardSwish : UnaryFunction.Identity);
        using var context = Context.Create(b => b.CPU(new CPUDevice(32, 8, 1)));
        using var accelerator = context.CreateCPUAccelerator(0);
        using var x = accelerator.Allocate1D(TinyOnnxGraph.RandomValues(81, g.Planes * inHeight * inWidth));
        long outputs = placed ? images * (long)g.OutImageStride : g.Planes * outHeight * outWidth;
        using var spans = accelerator.Allocate1D<float>(outputs);
        using var single = accelerator.Allocate1D<float>(outputs);
        spans.MemSetToZero();
        single.MemSetToZero();
        Assert.True(DeviceMemory.IsAligned(spans.View.AsContiguous(), 16), "the spans kernel would not run on an unaligned buffer");

        new KernelLibrary(accelerator).Resize(x.View, spans.View, g, activation);
        var one = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ResizeGeometry, Activation>(ResizeKernel.Run);
        one(g.Planes * outHeight * outWidth, x.View, single.View, g, activation);
        accelerator.Synchronize();

        Assert.Equal(single.GetAsArray1D(), spans.GetAsArray1D());
    }
}
