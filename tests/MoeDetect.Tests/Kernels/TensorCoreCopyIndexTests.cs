using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;

namespace MoeDetect.Tests.Kernels;

/// <summary>The tensor-core GEMM's copies find an input value as a column's window (<see cref="WindowColumn"/>, once a
/// thread) plus a reduction row's place in it (<see cref="WindowRow"/>, once a warp and k-step). The CPU accelerator
/// cannot run that kernel, so its index arithmetic is checked here against the SIMT GEMM's per-value
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
