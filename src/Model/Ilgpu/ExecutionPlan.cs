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

    /// <summary>Output slots of queued runs (<see cref="Queue"/>), made on a slot's first run.</summary>
    private readonly Dictionary<int, OutputSlot> _slots = [];

    public long IntermediateBytes { get; } = intermediateBytes;
    public StepSequence Steps => steps;

    /// <summary>Every graph input's device tensor, the first being the one <see cref="Run"/> writes. Each views memory
    /// the plan owns unless <see cref="ReadInputsFrom"/> pointed it elsewhere.</summary>
    public IReadOnlyList<DeviceTensor> Inputs
    {
        get => _inputs;
        init
        {
            _inputs = value;
            _ownInputViews = value.Select(t => t.Storage.View).ToArray();
        }
    }
    private readonly IReadOnlyList<DeviceTensor> _inputs = [input];
    private readonly ArrayView<float>[] _ownInputViews = [input.Storage.View];

    /// <summary>The storages placed inside others: they follow an input whose memory moves.</summary>
    public IReadOnlyList<Storage> Placed { get; init; } = [];

    /// <summary>Makes the launches read each input where <paramref name="sources"/> (of the inputs' shapes, contiguous,
    /// in <see cref="Inputs"/> order) lie, instead of a copy of them in the plan's own memory: an MoE model chains
    /// plans, and at batch 32 copying each piece's inputs moved about 2 GB. The sources must stay as they are until the
    /// launches queued next have run (they are on the same stream). Each set of addresses gets CUDA graphs of its own
    /// (<see cref="StepSequence.UseBinding"/>).</summary>
    public void ReadInputsFrom(IReadOnlyList<DeviceTensor> sources)
    {
        if (sources.Count != _inputs.Count) throw new ArgumentException($"the plan has {_inputs.Count} inputs; {sources.Count} given", nameof(sources));
        for (int i = 0; i < sources.Count; i++)
        {
            if (sources[i].IsStrided || !sources[i].Shape.SequenceEqual(_inputs[i].Shape))
                throw new ArgumentException($"input {i} of shape [{string.Join(",", _inputs[i].Shape)}] cannot read a strided or [{string.Join(",", sources[i].Shape)}] tensor where it lies", nameof(sources));
        }
        Bind(sources.Select(s => s.View).ToArray());
    }

    /// <summary>Points every input back at the plan's own memory, for a caller that writes the input itself (an expert
    /// run whose frames are gathered into it).</summary>
    public void ReadOwnInputs() => Bind(_ownInputViews);

    private void Bind(ArrayView<float>[] views)
    {
        bool moved = false;
        for (int i = 0; i < views.Length; i++)
        {
            var storage = _inputs[i].Storage;
            if (Address(storage.View) == Address(views[i])) continue;
            storage.View = views[i];
            moved = true;
        }
        if (!moved) return;
        MemoryPlan.PlaceViews(Placed);
        bool own = views.Select(Address).SequenceEqual(_ownInputViews.Select(Address));
        steps.UseBinding(own ? "" : string.Join(",", views.Select(v => Address(v).ToString("x"))));
    }

    private static long Address(ArrayView<float> view) => view.LoadEffectiveAddressAsPtr();

    /// <summary>The outputs where the plan leaves them (device tensors, or values folded on the host at plan time).</summary>
    public IReadOnlyList<(string Name, Value Value)> Outputs => outputs;

    /// <summary>Queues every launch on the plan's stream and returns without synchronising or downloading, for
    /// callers that keep the outputs on the device (the MoE engine chains plans). Inputs must be written first.</summary>
    public void Enqueue() => steps.Run();

    /// <summary>Runs with the input written by <paramref name="writeInput"/> (an upload or a preprocessing kernel) and
    /// copies each output into <paramref name="into"/> (one destination per output, of its length); the time
    /// <paramref name="writeInput"/> takes is reported as upload time. The outputs' copies to the host queue behind the
    /// launches and the host waits once for both: a wait for the launches alone, then one for the copies, cost a second
    /// round trip to the device every run. Stream markers around the copies split the wait: their device time is the
    /// download's (with the copy on into the caller's arrays), the rest of the wait the inference's.</summary>
    public EngineTimings Run(Action<ArrayView<float>> writeInput, IReadOnlyList<Memory<float>> into)
    {
        var clock = Stopwatch.StartNew();
        ReadOwnInputs();
        writeInput(input.View);
        double upload = clock.Elapsed.TotalMilliseconds;

        clock.Restart();
        steps.Run();
        using var launched = stream.AddProfilingMarker();
        for (int o = 0; o < outputs.Count; o++)
        {
            if (outputs[o].Value.Device is { } t)
                t.View.CopyTo(stream, Download(o, t.Length).ArrayView.SubView(0, t.Length));
        }
        using var copied = stream.AddProfilingMarker();
        stream.Synchronize();
        double waited = clock.Elapsed.TotalMilliseconds, copies = copied.MeasureFrom(launched).TotalMilliseconds;

        clock.Restart();
        CopyOutputs(into, o => _downloads[o]!);
        double copiedOut = clock.Elapsed.TotalMilliseconds;
        return new EngineTimings(upload, Math.Max(0, waited - copies), copies + copiedOut, Flops: steps.Flops);
    }

    /// <summary>Queues a run whose outputs the caller collects later (<see cref="Collect"/>), so that the next run can be
    /// queued first and the outputs cross to the host beside it: the input written by <paramref name="writeInput"/>,
    /// the launches, then each device output copied on the device into output slot <paramref name="slot"/>'s memory
    /// (the next run overwrites the plan's), between two stream markers. Returns without waiting. A slot holds one run
    /// until it is collected.</summary>
    public QueuedRun Queue(Action<ArrayView<float>> writeInput, int slot)
    {
        var clock = Stopwatch.StartNew();
        var target = Slot(slot);
        ReadOwnInputs();
        var start = stream.AddProfilingMarker();
        writeInput(input.View);
        double upload = clock.Elapsed.TotalMilliseconds;
        steps.Run();
        for (int o = 0; o < outputs.Count; o++)
            if (outputs[o].Value.Device is { } t) t.View.CopyTo(stream, target.Device(o));
        return new QueuedRun(this, target, start, stream.AddProfilingMarker(), upload);
    }

    /// <summary>Waits for a queued run, then copies its outputs to the host on its slot's stream and on into
    /// <paramref name="into"/>. Inference is the device time between the run's markers (the input's writing on the
    /// device, the launches, the outputs' copy into the slot), download the crossing and the copy on. Any thread may
    /// collect (the device's context must be current on it).</summary>
    public EngineTimings Collect(QueuedRun run, IReadOnlyList<Memory<float>> into)
    {
        double inference;
        using (run)
        {
            run.End.Synchronize();
            inference = run.End.MeasureFrom(run.Start).TotalMilliseconds;
        }
        var clock = Stopwatch.StartNew();
        run.Slot.Download();
        CopyOutputs(into, run.Slot.Host);
        return new EngineTimings(run.UploadMs, inference, clock.Elapsed.TotalMilliseconds, Flops: steps.Flops);
    }

    private OutputSlot Slot(int slot)
    {
        if (!_slots.TryGetValue(slot, out var target))
            _slots[slot] = target = new OutputSlot(accelerator, outputs.Select(o => o.Value.Device?.Length).ToList());
        return target;
    }

    /// <summary>Each output into its destination: values folded on the host as they are, device ones from the
    /// page-locked memory <paramref name="downloaded"/> gives for them.</summary>
    private void CopyOutputs(IReadOnlyList<Memory<float>> into, Func<int, PageLockedArray1D<float>> downloaded)
    {
        for (int o = 0; o < outputs.Count; o++)
        {
            var value = outputs[o].Value;
            int length = value.Device?.Length ?? value.Host!.Data.Length;
            if (length != into[o].Length)
                throw new ArgumentException($"output '{outputs[o].Name}' has {length} values; its destination holds {into[o].Length}", nameof(into));
            if (value.Device is null) value.Host!.ToFloats().CopyTo(into[o].Span);
            else CopyOut(downloaded(o), into[o]);
        }
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
        foreach (var slot in _slots.Values) slot.Dispose();
    }
}
