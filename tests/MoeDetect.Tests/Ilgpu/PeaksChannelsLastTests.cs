using Xunit;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>The NHWC peak test turns its tiles in shared memory. The engine's CPU accelerator has groups of 2 (the
/// parity tests run that); here a CPU device with a GPU's 32 × 8 groups runs the 32-wide tiles, with partial tiles in
/// both pixels and channels, against the NCHW kernel's values transposed on the host.</summary>
public sealed class PeaksChannelsLastTests
{
    [Theory]
    [InlineData(2, 40, 3, 37)]   // a partial second tile of channels and of pixels
    [InlineData(1, 80, 4, 64)]   // CenterNet's 80 classes over whole pixel tiles
    [InlineData(1, 3, 2, 5)]     // smaller than one tile
    public void Gpu_sized_groups_write_the_nchw_peaks_transposed(int batch, int channels, int height, int width)
    {
        var g = new WindowGeometry
        {
            Batch = batch, Channels = channels, Height = height, Width = width, OutChannels = channels, OutHeight = height, OutWidth = width,
            KernelHeight = 3, KernelWidth = 3, StrideY = 1, StrideX = 1, PadTop = 1, PadLeft = 1, DilationY = 1, DilationX = 1, Groups = channels,
        };
        // Values on a coarse grid, so that windows hold ties and flat regions.
        var x = TinyOnnxGraph.RandomValues(71, batch * channels * height * width).Select(v => MathF.Round(v * 2) / 2).ToArray();

        using var context = Context.Create(b => b.CPU(new CPUDevice(32, 8, 1)));
        using var accelerator = context.CreateCPUAccelerator(0);
        var kernels = new KernelLibrary(accelerator);
        using var input = accelerator.Allocate1D(x);
        using var nchw = accelerator.Allocate1D<float>(x.Length);
        using var nhwc = accelerator.Allocate1D<float>(x.Length);
        kernels.Peaks(x.Length, input.View, nchw.View, g);
        kernels.PeaksChannelsLast(input.View, nhwc.View, g);
        accelerator.Synchronize();

        var planes = nchw.GetAsArray1D();
        var expected = new float[x.Length];
        for (int n = 0; n < batch; n++)
            for (int c = 0; c < channels; c++)
                for (int p = 0; p < height * width; p++)
                    expected[(n * height * width + p) * channels + c] = planes[(n * channels + c) * height * width + p];
        Assert.Contains(expected, v => v != 0);
        Assert.Equal(expected, nhwc.GetAsArray1D());
    }
}
