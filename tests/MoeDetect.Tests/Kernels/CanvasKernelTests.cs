using MoeDetect.Model.Ilgpu;
using MoeDetect.Model.Input;
using MoeDetect.Tests.GpuEngine;
using Xunit;

namespace MoeDetect.Tests.Kernels;

/// <summary>Canvases normalised on the device (ILGPU's CPU accelerator) against the CPU path's
/// <see cref="PixelTensor"/>: the same arithmetic, so the same floats, in every layout and channel order.</summary>
public sealed class CanvasKernelTests
{
    [Theory]
    [InlineData(TensorLayout.Nchw, ChannelOrder.Rgb)]
    [InlineData(TensorLayout.Nhwc, ChannelOrder.Rgb)]
    [InlineData(TensorLayout.Nchw, ChannelOrder.Bgr)]
    [InlineData(TensorLayout.Nhwc, ChannelOrder.Bgr)]
    public void Device_normalisation_equals_the_CPU_path(TensorLayout layout, ChannelOrder order)
    {
        var spec = new InputSpec("x", 24, 16, layout, order, [123.7f, 116.3f, 103.5f], [58.4f, 57.1f, 57.4f], [0, 0, 0], CenteredLetterbox: false);
        using var device = IlgpuDevice.Open(IlgpuTarget.CpuAccelerator);
        using var canvases = new DeviceCanvases(new KernelLibrary(device.Accelerator, device.Stream), spec, capacity: 3, slots: 2);
        var random = new Random(3);
        random.NextBytes(canvases.Staging(1));
        var expected = new float[2 * spec.ValuesPerImage];
        for (int i = 0; i < 2; i++)
            PixelTensor.Write(spec, (ReadOnlySpan<byte>)canvases.Staging(1).Slice((i + 1) * spec.ValuesPerImage, spec.ValuesPerImage),
                expected.AsSpan(i * spec.ValuesPerImage, spec.ValuesPerImage));

        using var target = DeviceMemory.Allocate(device.Accelerator, expected.Length, "test input");
        canvases.Upload(slot: 1, count: 3);
        canvases.Normalize(slot: 1, target.View, first: 1, count: 2);
        device.Accelerator.Synchronize();
        var actual = new float[expected.Length];
        DeviceMemory.Download(target.View, actual);

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Canvases_beyond_the_staged_or_not_uploaded_are_refused()
    {
        var spec = InputSpec.Ultralytics("x", 8, 8);
        using var device = IlgpuDevice.Open(IlgpuTarget.CpuAccelerator);
        using var canvases = new DeviceCanvases(new KernelLibrary(device.Accelerator, device.Stream), spec, capacity: 3, slots: 2);
        using var target = DeviceMemory.Allocate(device.Accelerator, 3 * spec.ValuesPerImage, "test input");
        canvases.Upload(slot: 0, count: 2);

        Assert.Throws<ArgumentOutOfRangeException>(() => canvases.Normalize(slot: 0, target.View, first: 2, count: 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => canvases.Upload(slot: 1, count: 4));
        Assert.Throws<InvalidOperationException>(() => canvases.Normalize(slot: 1, target.View, first: 0, count: 1));
        Assert.Throws<InvalidOperationException>(() => canvases.Normalize(slot: 0, target.View, first: 1, count: 2));
    }

    /// <summary>With outputs collected on a second thread (the default) and, as <c>MOEDETECT_ILGPU_OUTPUT_COLLECTOR=0</c>
    /// runs them, each batch whole on the engine's thread.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Batches_started_back_to_back_each_give_the_outputs_of_their_own_canvases(bool collectOutputs)
    {
        using var tiny = new TinyEngines(collectOutputs);
        var (spec, floats, pixels) = (tiny.Spec, tiny.Floats, tiny.Pixels);
        var random = new Random(5);
        random.NextBytes(pixels.PixelSlot(0));
        random.NextBytes(pixels.PixelSlot(1));
        var expected = new[] { 0, 1 }.Select(slot => floats.Run(Normalised(spec, pixels.PixelSlot(slot), 2), 2).Tensor("output0").Data).ToList();

        // The second batch's upload is queued while the first may not have been normalised yet.
        Assert.True(pixels.QueuesRuns);
        var first = pixels.StartPixelSlot(2, slot: 0);
        var second = pixels.StartPixelSlot(2, slot: 1);

        Assert.Equal(expected[0], (await first).Tensor("output0").Data);
        Assert.Equal(expected[1], (await second).Tensor("output0").Data);
    }

    [Fact]
    public void A_slots_next_run_refills_its_last_output_tensors_with_its_own_outputs()
    {
        using var tiny = new TinyEngines();
        var (spec, floats, pixels) = (tiny.Spec, tiny.Floats, tiny.Pixels);
        var random = new Random(6);
        random.NextBytes(pixels.PixelSlot(0));
        var first = pixels.RunPixelSlot(2, slot: 0).Tensor("output0");
        random.NextBytes(pixels.PixelSlot(0));
        var expected = floats.Run(Normalised(spec, pixels.PixelSlot(0), 2), 2).Tensor("output0").Data;

        var second = pixels.RunPixelSlot(2, slot: 0).Tensor("output0");

        Assert.Same(first.Data, second.Data);
        Assert.Equal(expected, second.Data);
        Assert.Equal(1, pixels.RunPixelSlot(1, slot: 0).Tensor("output0").Shape[0]);
    }

    [Fact]
    public void The_pixel_engine_gives_the_outputs_of_the_float_engine()
    {
        using var tiny = new TinyEngines();
        var (spec, floats, pixels) = (tiny.Spec, tiny.Floats, tiny.Pixels);
        new Random(4).NextBytes(pixels.PixelSlot(1));

        var expected = floats.Run(Normalised(spec, pixels.PixelSlot(1), 2), 2).Tensor("output0");
        var actual = pixels.RunPixelSlot(2, slot: 1).Tensor("output0");

        Assert.Equal(2, pixels.MaxBatch);
        Assert.Equal(expected.Shape, actual.Shape);
        Assert.Equal(expected.Data, actual.Data);
    }

    /// <summary>What the CPU path makes of <paramref name="count"/> canvases.</summary>
    private static float[] Normalised(InputSpec spec, ReadOnlySpan<byte> canvases, int count)
    {
        var input = new float[count * spec.ValuesPerImage];
        for (int i = 0; i < count; i++)
            PixelTensor.Write(spec, canvases.Slice(i * spec.ValuesPerImage, spec.ValuesPerImage), input.AsSpan(i * spec.ValuesPerImage, spec.ValuesPerImage));
        return input;
    }

    /// <summary>The tiny detector on the CPU accelerator twice: fed floats, and fed 8-bit canvases (two of them a slot).</summary>
    private sealed class TinyEngines : IDisposable
    {
        public InputSpec Spec { get; } = InputSpec.Ultralytics("images", TinyDetectorGraph.Size, TinyDetectorGraph.Size);
        public IlgpuEngine Floats { get; } = IlgpuEngine.Load(TinyDetectorGraph.Build(), "tiny", IlgpuTarget.CpuAccelerator);
        public IlgpuPixelEngine Pixels { get; }

        public TinyEngines(bool collectOutputs = true) =>
            Pixels = new IlgpuPixelEngine(IlgpuEngine.Load(TinyDetectorGraph.Build(), "tiny", IlgpuTarget.CpuAccelerator), Spec, capacity: 2, collectOutputs);

        public void Dispose()
        {
            Pixels.Dispose();
            Floats.Dispose();
        }
    }
}
