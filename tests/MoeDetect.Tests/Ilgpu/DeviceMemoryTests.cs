using ILGPU;
using ILGPU.Runtime.CPU;
using MoeDetect.Model.Ilgpu;
using Xunit;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>Host↔device copies into small managed arrays, which the GC may move at any time. ILGPU copies through a
/// raw address, so an unpinned array moved mid-copy is written at its old address: the values land elsewhere (and
/// the test host may crash). Another thread keeps allocating and forcing compacting collections meanwhile.</summary>
public sealed class DeviceMemoryTests
{
    /// <summary>The check the 16-byte kernels' fallbacks rest on (depthwise, Resize): a view a float past an aligned start
    /// is not aligned, four floats past it is.</summary>
    [Fact]
    public void Alignment_follows_the_views_first_element()
    {
        using var context = Context.Create(b => b.CPU());
        using var accelerator = context.CreateCPUAccelerator(0);
        using var buffer = accelerator.Allocate1D<float>(64);
        var view = buffer.View.AsContiguous();
        Assert.True(DeviceMemory.IsAligned(view, 16), "the CPU accelerator's buffer is expected to start 16-byte aligned");
        Assert.False(DeviceMemory.IsAligned(view.SubView(1), 16));
        Assert.False(DeviceMemory.IsAligned(view.SubView(2), 16));
        Assert.True(DeviceMemory.IsAligned(view.SubView(2), 8));
        Assert.True(DeviceMemory.IsAligned(view.SubView(4), 16));
    }

    [Fact]
    public async Task Copies_into_managed_arrays_hold_while_the_gc_compacts()
    {
        using var context = Context.Create(b => b.CPU());
        using var accelerator = context.CreateCPUAccelerator(0);
        const int length = 4096;
        using var buffer = accelerator.Allocate1D<float>(length);
        var expected = Enumerable.Range(0, length).Select(i => (float)i).ToArray();
        DeviceMemory.Upload(buffer.View, expected);

        using var stop = new CancellationTokenSource();
        var churn = Task.Run(() => CompactRepeatedly(stop.Token));
        try
        {
            for (int i = 0; i < 5000; i++)
            {
                _ = new byte[16 + i % 500]; // shifts where the next array lands, so compaction moves it
                var copy = new float[length];
                DeviceMemory.Download(buffer.View, copy);
                Assert.Equal(expected, copy);
            }
        }
        finally
        {
            stop.Cancel();
            await churn;
        }
    }

    private static void CompactRepeatedly(CancellationToken stop)
    {
        var kept = new List<byte[]>();
        var random = new Random(1);
        while (!stop.IsCancellationRequested)
        {
            kept.Add(new byte[random.Next(16, 4000)]);
            if (kept.Count > 2000) kept.RemoveRange(0, 1000);
            if (random.Next(50) == 0) GC.Collect(0, GCCollectionMode.Forced, blocking: true, compacting: true);
        }
    }
}
