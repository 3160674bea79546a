using System.Diagnostics;
using ILGPU;
using ILGPU.Runtime;
using MoeDetect.Model.Engines;

namespace MoeDetect.Model.Ilgpu;

/// <summary>The compiled graph for one input shape: kernel launches in order over planned memory. A run uploads the
/// input, queues every launch on the plan's stream (replayed as CUDA graphs after the first run), synchronises once,
/// and downloads the outputs through page-locked buffers of the plan's own into the caller's arrays.</summary>
internal sealed class ExecutionPlan(Accelerator accelerator, AcceleratorStream stream, DeviceTensor input, StepSequence steps,
    IReadOnlyList<(string Name, Value Value)> outputs, IReadOnlyList<MemoryBuffer> owned, long intermediateBytes) : IDisposable
{
    /// <summary>Per device output, page-locked host memory it is copied into (by DMA, without the driver's staging
    /// copy of pageable memory) before it is copied on into the caller's array; made on the first run.</summary>
    private readonly PageLockedArray1D<float>?[] _downloads = new PageLockedArray1D<float>?[outputs.Count];

    public long IntermediateBytes { get; } = intermediateBytes;
    public StepSequence Steps => steps;

    /// <summary>Every graph input's device tensor, the first being the one <see cref="Run"/> writes.</summary>
    public IReadOnlyList<DeviceTensor> Inputs { get; init; } = [input];

    /// <summary>The outputs where the plan leaves them (device tensors, or values folded on the host at plan time).</summary>
    public IReadOnlyList<(string Name, Value Value)> Outputs => outputs;

    /// <summary>Queues every launch on the plan's stream and returns without synchronising or downloading, for
    /// callers that keep the outputs on the device (the MoE engine chains plans). Inputs must be written first.</summary>
    public void Enqueue() => steps.Run();

    /// <summary>Runs with the input written by <paramref name="writeInput"/> (an upload or a preprocessing kernel) and
    /// copies each output into <paramref name="into"/> (one destination per output, of its length); the time
    /// <paramref name="writeInput"/> takes is reported as upload time.</summary>
    public EngineTimings Run(Action<ArrayView<float>> writeInput, IReadOnlyList<Memory<float>> into)
    {
        var clock = Stopwatch.StartNew();
        writeInput(input.View);
        double upload = clock.Elapsed.TotalMilliseconds;

        clock.Restart();
        steps.Run();
        stream.Synchronize();
        double inference = clock.Elapsed.TotalMilliseconds;

        clock.Restart();
        for (int o = 0; o < outputs.Count; o++)
        {
            if (outputs[o].Value.Device is { } t)
                t.View.CopyTo(stream, Download(o, t.Length).ArrayView.SubView(0, t.Length));
        }
        stream.Synchronize();
        for (int o = 0; o < outputs.Count; o++)
        {
            var value = outputs[o].Value;
            int length = value.Device?.Length ?? value.Host!.Data.Length;
            if (length != into[o].Length)
                throw new ArgumentException($"output '{outputs[o].Name}' has {length} values; its destination holds {into[o].Length}", nameof(into));
            if (value.Device is null) value.Host!.ToFloats().CopyTo(into[o].Span);
            else CopyOut(_downloads[o]!, into[o]);
        }
        return new EngineTimings(upload, inference, clock.Elapsed.TotalMilliseconds);
    }

    /// <summary>Page-locked values into the caller's array, in 1 MB pieces over the cores: one core copies about
    /// 10 GB/s, so a batch of 32 YOLOv8 candidate tables (11 MB) took as long to copy as to cross the bus.</summary>
    private static void CopyOut(PageLockedArray1D<float> from, Memory<float> to)
    {
        const int Piece = 1 << 18;
        int pieces = (to.Length + Piece - 1) / Piece;
        if (pieces <= 1) { from.Span[..to.Length].CopyTo(to.Span); return; }
        Parallel.For(0, pieces, p =>
        {
            int start = p * Piece, count = Math.Min(Piece, to.Length - start);
            from.Span.Slice(start, count).CopyTo(to.Span.Slice(start, count));
        });
    }

    private PageLockedArray1D<float> Download(int output, int length) =>
        _downloads[output] ??= accelerator.AllocatePageLocked1D<float>(Math.Max(1, length));

    public void Dispose()
    {
        steps.Dispose();
        foreach (var buffer in owned) buffer.Dispose();
        foreach (var download in _downloads) download?.Dispose();
    }
}
