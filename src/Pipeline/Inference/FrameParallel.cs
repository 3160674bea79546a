namespace MoeDetect.Pipeline.Inference;

/// <summary>Per-frame work of a batch (letterboxing, decoding) spread over the cores: at batch 32 one core's
/// letterboxing takes longer than the GPU's inference.</summary>
internal static class FrameParallel
{
    public static void ForEach(int n, Action<int> body) => ForEach(n, () => 0, (i, _) => body(i), _ => { });

    /// <summary>Runs <paramref name="body"/> for frames 0..n−1, on the calling thread for a single frame, else in
    /// parallel with one <typeparamref name="TWorker"/> state per worker thread.</summary>
    public static void ForEach<TWorker>(int n, Func<TWorker> rent, Action<int, TWorker> body, Action<TWorker> giveBack)
    {
        if (n == 1)
        {
            var worker = rent();
            body(0, worker);
            giveBack(worker);
            return;
        }
        Parallel.For(0, n, rent, (i, _, worker) =>
        {
            body(i, worker);
            return worker;
        }, giveBack);
    }
}
