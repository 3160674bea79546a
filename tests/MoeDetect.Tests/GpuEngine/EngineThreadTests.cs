using MoeDetect.Model.Engines;
using Xunit;

namespace MoeDetect.Tests.GpuEngine;

/// <summary>The bound engine's own thread: ONNX Runtime's CUDA provider keeps a captured CUDA graph per calling
/// thread, so all device work must come from one thread whatever thread asks for it.</summary>
public sealed class EngineThreadTests
{
    [Fact]
    public async Task Work_from_many_threads_runs_on_one_thread_in_the_order_it_was_queued()
    {
        using var engineThread = new EngineThread("test-engine");
        var order = new List<int>();
        var started = Enumerable.Range(0, 20).Select(i => engineThread.Start(() =>
        {
            order.Add(i); // unsynchronised on purpose: only one thread ever touches it
            return Environment.CurrentManagedThreadId;
        })).ToList();
        var fromPool = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => engineThread.Invoke(() => Environment.CurrentManagedThreadId))));

        var threads = (await Task.WhenAll(started)).Concat(fromPool).Distinct().ToList();

        Assert.Single(threads);
        Assert.NotEqual(Environment.CurrentManagedThreadId, threads[0]);
        Assert.Equal(Enumerable.Range(0, 20), order);
    }

    [Fact]
    public void A_failure_reaches_the_caller_and_the_thread_goes_on()
    {
        using var engineThread = new EngineThread("test-engine");

        var error = Assert.Throws<InvalidOperationException>(() => engineThread.Invoke<int>(() => throw new InvalidOperationException("out of device memory")));

        Assert.Equal("out of device memory", error.Message);
        Assert.Equal(42, engineThread.Invoke(() => 42));
    }
}
