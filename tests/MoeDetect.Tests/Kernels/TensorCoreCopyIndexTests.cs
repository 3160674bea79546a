using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;

namespace MoeDetect.Tests.Kernels;

/// <summary>The tensor-core GEMM's copies find an input value as a column's window (<see cref="WindowColumn"/>, once a
/// thread) plus a reduction row's place in it (<see cref="WindowRow"/>, once a warp and k-step). Besides running the
/// kernel emulated (TensorCoreEmulationTests), its index arithmetic is checked here against the SIMT GEMM's per-value
/// <see cref="PointwiseInput.Offset"/>, which the CPU parity tests cover: every row, column and image.</summary>
public class TensorCoreCopyIndexTests
{
    public static TheoryData<WindowGeometry> Windows => new()
    {
        Window(channels: 3, height: 11, width: 13, kernel: 3, stride: 2, pad: 1),
        Window(channels: 5, height: 9, width: 7, kernel: 3, stride: 1, pad: 1),
        Window(channels: 4, height: 10, width: 12, kernel: 5, stride: 1, pad: 2, dilation: 2),
        Window(channels: 2, height: 8, width: 8, kernel: 1, stride: 2, pad: 0),
        Window(channels: 3, height: 6, width: 9, kernel: 3, stride: 1, pad: 0),
    };

    [Theory]
    [MemberData(nameof(Windows))]
    public void Window_rows_and_columns_find_what_the_simt_gemm_loads(WindowGeometry window)
    {
        var g = ConvolutionPaths.ImplicitGemm(window) with { InImageStride = 2 * window.Channels * window.Height * window.Width };
        AssertSameOffsets(g);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7 * 50)]
    public void Pointwise_rows_and_columns_find_what_the_simt_gemm_loads(int imageStride)
    {
        var g = ConvolutionPaths.Pointwise(Window(channels: 7, height: 5, width: 10, kernel: 1, stride: 1, pad: 0)) with { InImageStride = imageStride };
        AssertSameOffsets(g);
    }

    public static TheoryData<WindowGeometry> TapMajorWindows => new()
    {
        Window(channels: 16, height: 11, width: 13, kernel: 3, stride: 2, pad: 1),
        Window(channels: 32, height: 9, width: 7, kernel: 3, stride: 1, pad: 1),
        Window(channels: 16, height: 10, width: 12, kernel: 5, stride: 1, pad: 2, dilation: 2),
    };

    /// <summary>A tap-major row k (tap k / C, channel k % C) is the value the channel-major row of that channel and tap
    /// finds, for every column; and the copies' shortcut holds: the rows of one half k-step share a tap, a channel
    /// plane apart.</summary>
    [Theory]
    [MemberData(nameof(TapMajorWindows))]
    public void Tap_major_rows_find_the_channel_major_rows_value(WindowGeometry window)
    {
        var g = ConvolutionPaths.ImplicitGemm(window) with { InImageStride = 2 * window.Channels * window.Height * window.Width };
        Assert.True(TensorCoreConvolutionKernel.TapMajorFits(g));
        int taps = window.KernelHeight * window.KernelWidth, plane = window.Height * window.Width;
        for (int k = 0; k < g.Channels; k++)
        {
            int tap = k / window.Channels, c = k % window.Channels;
            var row = WindowRow.OfTapMajor(g, k, g.Channels);
            var channelMajor = WindowRow.Of(g, c * taps + tap, g.Channels);
            Assert.Equal((channelMajor.Offset, channelMajor.Tap), (row.Offset, row.Tap));
            int halfStart = k - k % TensorCoreConvolutionKernel.TapRows;
            var first = WindowRow.OfTapMajor(g, halfStart, g.Channels);
            Assert.Equal((first.Offset + (k - halfStart) * plane, first.Tap), (row.Offset, row.Tap));
        }
        Assert.Equal(-1, WindowRow.OfTapMajor(g, g.Channels - 16, g.Channels - 16).Tap);
    }

    [Fact]
    public void Tensor_core_plans_run_tap_major_where_the_channels_fill_whole_tap_rows()
    {
        using var device = IlgpuDevice.Open(IlgpuTarget.CpuAccelerator);
        var kernels = new KernelLibrary(device.Accelerator);
        int TapMajor(WindowGeometry w, bool windowed) =>
            kernels.PlanTensorCores(windowed ? ConvolutionPaths.ImplicitGemm(w) : ConvolutionPaths.Pointwise(w)).TapMajor;
        Assert.Equal(1, TapMajor(Window(channels: 32, height: 40, width: 40, kernel: 3, stride: 1, pad: 1), windowed: true));
        Assert.Equal(0, TapMajor(Window(channels: 20, height: 40, width: 40, kernel: 3, stride: 1, pad: 1), windowed: true));
        Assert.Equal(0, TapMajor(Window(channels: 32, height: 40, width: 40, kernel: 1, stride: 1, pad: 0), windowed: false));
    }

    [Fact]
    public void Tap_major_weights_put_each_taps_channels_together()
    {
        // w[m, c, tap] = 100 m + 10 c + tap, 2 out channels × 3 channels × 2 taps.
        var w = new float[12];
        for (int m = 0; m < 2; m++)
            for (int c = 0; c < 3; c++)
                for (int tap = 0; tap < 2; tap++) w[(m * 3 + c) * 2 + tap] = 100 * m + 10 * c + tap;
        Assert.Equal([0, 10, 20, 1, 11, 21, 100, 110, 120, 101, 111, 121], TapMajorWeights.From<float>(w, 2, 3, 2));
        Assert.Throws<ArgumentException>(() => TapMajorWeights.From<float>(w, 2, 3, 3));
    }

    /// <summary>Every (k, pixel) of two images, with pixels and rows past the ends (the tiles' edges, a split-K slice
    /// ending early) that must read nothing.</summary>
    private static void AssertSameOffsets(PointwiseGeometry g)
    {
        int sliceEnd = g.Channels - 2;
        for (int n = 0; n < 2; n++)
            for (int pixel = 0; pixel < g.Pixels + 3; pixel++)
            {
                var column = WindowColumn.Of(g, n, pixel);
                var origin = PointwiseInput.WindowOrigin(g, pixel);
                for (int k = 0; k < g.Channels + 2; k++)
                {
                    long expected = pixel < g.Pixels && k < sliceEnd ? PointwiseInput.Offset(g, n, k, pixel, origin) : -1;
                    long actual = column.At(WindowRow.Of(g, k, sliceEnd));
                    if (actual != expected) Assert.Fail($"image {n}, k {k}, pixel {pixel}: {actual}, not {expected}");
                }
            }
    }

    private static WindowGeometry Window(int channels, int height, int width, int kernel, int stride, int pad, int dilation = 1)
    {
        int span = dilation * (kernel - 1) + 1;
        return new WindowGeometry
        {
            Batch = 2, Channels = channels, OutChannels = 4, Height = height, Width = width,
            OutHeight = (height + 2 * pad - span) / stride + 1, OutWidth = (width + 2 * pad - span) / stride + 1,
            KernelHeight = kernel, KernelWidth = kernel, StrideY = stride, StrideX = stride, PadTop = pad, PadLeft = pad,
            DilationY = dilation, DilationX = dilation, Groups = 1,
        };
    }
}
