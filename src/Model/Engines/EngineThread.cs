using System.Collections.Concurrent;
using System.Diagnostics;

namespace MoeDetect.Model.Engines;

/// <summary>One long-lived thread that runs an engine's device work, in the order it is handed in. ONNX Runtime's CUDA
/// execution provider keeps its state per calling thread (a captured CUDA graph among it: a run from a thread it has
/// not seen runs uncaptured twice, then captures again), so an engine called from whichever thread-pool thread the
/// caller is on would rarely replay its graph. Work from this thread itself runs inline.</summary>
public sealed class EngineThread : IDisposable
{
    private readonly BlockingCollection<Action> _work = new();
    private readonly Thread _thread;

    public EngineThread(string name)
    {
        _thread = new Thread(RunQueued) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>Queues <paramref name="work"/> on this thread; the task completes with its result or exception.</summary>
    public Task<T> Start<T>(Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _work.Add(() =>
        {
            try
            {
                done.SetResult(work());
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        });
        return done.Task;
    }

    /// <summary>Runs <paramref name="work"/> on this thread and waits for it; its exception is rethrown here.</summary>
    public T Invoke<T>(Func<T> work) => Thread.CurrentThread == _thread ? work() : Start(work).GetAwaiter().GetResult();

    public void Invoke(Action work) => Invoke(() =>
    {
        work();
        return true;
    });

    private void RunQueued()
    {
        while (true)
        {
            SpinBriefly(() => _work.Count > 0 || _work.IsAddingCompleted);
            if (!_work.TryTake(out var work, Timeout.Infinite)) return; // completed and empty
            work();
        }
    }

    /// <summary>Spins for up to 0.2 ms or until <paramref name="done"/>. A pipelined batch is handed over the moment the
    /// one before it ends; waking a blocked thread takes tens of microseconds, several percent of a 1.4 ms batch.</summary>
    public static void SpinBriefly(Func<bool> done)
    {
        long until = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 5000;
        var spin = new SpinWait();
        while (!done() && Stopwatch.GetTimestamp() < until) spin.SpinOnce(sleep1Threshold: -1);
    }

    /// <summary>Lets queued work finish, then ends the thread.</summary>
    public void Dispose()
    {
        _work.CompleteAdding();
        if (Thread.CurrentThread == _thread) return; // the loop ends after this item and leaves the queue to the collector
        _thread.Join();
        _work.Dispose();
    }
}
