using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MoeDetect.Model.Engines.Cuda;
using MoeDetect.Model.Input;

namespace MoeDetect.Model.Engines;

/// <summary>Runs a <see cref="PixelInputGraph"/> with IOBinding: input and outputs are bound once to fixed buffers
/// in the session's memory (GPU or host), so a run is copy in → run → copy out, and with CUDA graphs enabled the
/// run itself is a replay. Graphs fixed at a batch of 1 run once per frame through the same buffers. The device work
/// (warm-up included) runs on the engine's own <see cref="EngineThread"/>, whatever thread calls it.</summary>
/// <remarks>The input is normally the <see cref="PixelInputGraph"/>'s 8-bit canvas; <see cref="BoundInput.Floats"/> binds
/// a graph's own float input instead, for timing ONNX Runtime alone (<see cref="RunAsBound"/>). Given a run queue (the
/// stream the session runs on, <see cref="CudaSettings.QueuedRuns"/>), a batch's bound copies and run are queued on
/// it without the host waiting between them; the host waits once, for the batch's download.</remarks>
public sealed class OrtBoundEngine : IPixelInputEngine
{
    // ONNX Runtime's CUDA EP runs twice normally, captures on the third run and replays from the fourth.
    private const int WarmupRuns = 4;

    private readonly InferenceSession _session;
    private readonly TensorMemory _memory;
    private readonly OrtIoBinding _binding;
    private readonly RunOptions _runOptions = new();
    private readonly EngineThread _thread = new("ort-bound-engine");
    private readonly List<OrtValue> _values = [];
    private readonly int _graphBatch;
    private readonly long _inputBytesPerItem;
    private readonly nint _input;
    /// <summary>Two page-locked staging slots, apart from the bound input, so either can be written while a run reads the other.</summary>
    private readonly nint[] _inputSlots = new nint[Slots];
    /// <summary>Each slot's canvases on the device, uploaded as soon as the batch is handed in (in host memory: the slots themselves).</summary>
    private readonly nint[] _deviceInputSlots = new nint[Slots];
    private readonly BoundOutput[] _outputs;
    /// <summary>Each slot's uploads and downloads run on queues of their own, beside the runs: only the device-to-device
    /// copies in and out of the bound buffers (microseconds) stand between one run and the next. A queue per slot, so
    /// that one slot's copies never wait behind the other's (a batch's upload behind the previous batch's download).</summary>
    private readonly CopyStream[] _uploads = new CopyStream[Slots], _downloads = new CopyStream[Slots];
    /// <summary>Each slot's last output tensors, refilled by its next run of the same batch size: a fresh array per
    /// run (YOLOv8n's 1,000 candidate rows: 0.3 MB an image) lands on the large-object heap and costs a full
    /// collection every few batches.</summary>
    private readonly NamedTensor[]?[] _slotOutputs = new NamedTensor[Slots][];
    /// <summary>The stream the session runs on, where runs are queued; null where each run waits for the GPU.</summary>
    private readonly CopyStream? _runs;

    private const int Slots = 2;

    /// <summary>Marks a run queue needs: each slot's batch start and end (device time of its bound copies and runs).</summary>
    public const int RunMarks = 2 * Slots;

    private static int BatchStart(int slot) => 2 * slot;
    private static int BatchEnd(int slot) => 2 * slot + 1;

    /// <summary>Queued runs return without waiting for the GPU; warm-up and <see cref="RunAsBound"/> use
    /// <see cref="_runOptions"/>, which waits: the runs before the CUDA graph is captured are ordinary runs.</summary>
    private readonly RunOptions? _queuedRunOptions;

    /// <summary>Marks on a slot's copy queues: the host-device copy and the copy to or from the bound buffers.</summary>
    private enum CopyMark { CrossStart, CrossEnd, BoundStart, BoundEnd }

    private const int Marks = 4;

    /// <summary>An output: the bound tensor, and per slot its copy on the device and in page-locked host memory.</summary>
    private sealed record BoundOutput(string Name, int[] Shape, long FloatsPerItem, nint Tensor, nint[] DeviceSlots, nint[] HostSlots)
    {
        public long BytesPerItem => FloatsPerItem * sizeof(float);

        public unsafe void CopyHostSlotTo(int slot, float[] data) => new ReadOnlySpan<float>((void*)HostSlots[slot], data.Length).CopyTo(data);
    }

    /// <param name="graphBatch">The pixel graph's batch: <paramref name="maxBatch"/>, or 1 for graphs fixed at 1.</param>
    /// <param name="input">What is bound as the input; null: the pixel graph's 8-bit canvas.</param>
    /// <param name="runs">The stream <paramref name="session"/> runs on (with <see cref="RunMarks"/> marks), for queued
    /// runs; the engine owns it. Null: each run waits for the GPU.</param>
    public OrtBoundEngine(InferenceSession session, string name, IReadOnlyList<string> outputNames, InputSpec spec,
        int maxBatch, int graphBatch, TensorMemory memory, BoundInput? input = null, CopyStream? runs = null)
    {
        _session = session;
        _memory = memory;
        _runs = runs;
        if (runs is not null)
        {
            _queuedRunOptions = new RunOptions();
            _queuedRunOptions.AddRunConfigEntry("disable_synchronize_execution_providers", "1");
        }
        Name = name;
        MaxBatch = maxBatch;
        _graphBatch = graphBatch;
        _binding = session.CreateIoBinding();
        try
        {
            input ??= BoundInput.Pixels(spec);
            _inputBytesPerItem = input.BytesPerItem;
            _input = memory.AllocateTensor(graphBatch * _inputBytesPerItem);
            for (int slot = 0; slot < Slots; slot++)
            {
                _inputSlots[slot] = memory.AllocateStaging(maxBatch * _inputBytesPerItem);
                _deviceInputSlots[slot] = memory.IsHost ? _inputSlots[slot] : memory.AllocateTensor(maxBatch * _inputBytesPerItem);
            }
            for (int slot = 0; slot < Slots; slot++)
            {
                _uploads[slot] = memory.OpenCopyStream(Marks);
                _downloads[slot] = memory.OpenCopyStream(Marks);
            }
            _binding.BindInput(input.Name, Track(OrtValue.CreateTensorValueWithData(memory.Info, input.Type,
                [graphBatch, .. input.ItemShape], _input, graphBatch * _inputBytesPerItem)));
            _outputs = _thread.Invoke(() => BindOutputs(outputNames));
            RunAsBound(WarmupRuns);
        }
        catch (Exception e) when (GpuOutOfMemory.Matches(e))
        {
            Dispose();
            throw GpuOutOfMemory.Error(maxBatch, e);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Name { get; }
    public int MaxBatch { get; }

    /// <summary>Whether a batch's copies and runs are queued on the session's stream without the host waiting between them.</summary>
    public bool RunsQueued => _runs is not null;

    public Span<byte> PixelStaging => PixelSlot(0);

    public int PixelSlots => _inputSlots.Length;

    public unsafe Span<byte> PixelSlot(int slot) => new((void*)_inputSlots[slot], checked((int)(MaxBatch * _inputBytesPerItem)));

    public EngineOutput Run(ReadOnlyMemory<float> input, int batchSize) =>
        throw new InvalidOperationException($"{Name} takes 8-bit canvases: fill PixelStaging and call RunPixels");

    public EngineOutput RunPixels(int batchSize) => RunPixelSlot(batchSize, 0);

    public EngineOutput RunPixelSlot(int batchSize, int slot) => StartPixelSlot(batchSize, slot).GetAwaiter().GetResult();

    /// <summary>Batches run in the order they are started, on the engine's thread.</summary>
    public bool QueuesRuns => true;

    /// <summary>Queues the slot's upload at once (it runs while an earlier batch does), then the run on the engine's
    /// thread; the task completes once the outputs are in the slot's tensors.</summary>
    public Task<EngineOutput> StartPixelSlot(int batchSize, int slot)
    {
        if (batchSize < 1 || batchSize > MaxBatch)
            throw new ArgumentOutOfRangeException(nameof(batchSize), $"batch of {batchSize}; this engine takes 1 to {MaxBatch}");
        var upload = _uploads[slot];
        upload.Record((int)CopyMark.CrossStart);
        upload.Copy(_inputSlots[slot], _deviceInputSlots[slot], batchSize * _inputBytesPerItem);
        upload.Record((int)CopyMark.CrossEnd);
        return Finish(_thread.Start(() => _runs is { } runs ? QueueOnDevice(batchSize, slot, runs) : RunOnDevice(batchSize, slot)), batchSize, slot);
    }

    /// <summary>Waits for the slot's download and fills its output tensors; upload and download are the copies' device time.</summary>
    private async Task<EngineOutput> Finish(Task<EngineTimings> onDevice, int batchSize, int slot)
    {
        var timings = await onDevice.ConfigureAwait(false);
        _downloads[slot].Wait((int)CopyMark.CrossEnd);
        if (_runs is { } runs) timings = timings with { InferenceMs = runs.ElapsedMs(BatchStart(slot), BatchEnd(slot)) };
        var clock = Stopwatch.StartNew();
        var tensors = SlotOutputs(slot, batchSize);
        for (int o = 0; o < _outputs.Length; o++) _outputs[o].CopyHostSlotTo(slot, tensors[o].Data);
        return new EngineOutput(tensors, null, timings with
        {
            UploadMs = timings.UploadMs + _uploads[slot].ElapsedMs((int)CopyMark.CrossStart, (int)CopyMark.CrossEnd),
            DownloadMs = timings.DownloadMs + _downloads[slot].ElapsedMs((int)CopyMark.CrossStart, (int)CopyMark.CrossEnd)
                + clock.Elapsed.TotalMilliseconds,
        });
    }

    /// <summary>Per graph batch: the uploaded canvases into the bound input, run, the outputs into the slot's device
    /// copies; then the slot's download is queued. Returns the bound copies' device time and the runs' time.</summary>
    private EngineTimings RunOnDevice(int batchSize, int slot)
    {
        double bindIn = 0, inference = 0, bindOut = 0;
        var (upload, download) = (_uploads[slot], _downloads[slot]);
        var clock = new Stopwatch();
        try
        {
            for (int first = 0; first < batchSize; first += _graphBatch)
            {
                int items = Math.Min(_graphBatch, batchSize - first);
                bindIn += CopyAndWait(upload, _deviceInputSlots[slot] + (nint)(first * _inputBytesPerItem), _input, items * _inputBytesPerItem);

                clock.Restart();
                _session.RunWithBinding(_runOptions, _binding);
                inference += clock.Elapsed.TotalMilliseconds;

                download.Record((int)CopyMark.BoundStart);
                foreach (var o in _outputs) download.Copy(o.Tensor, o.DeviceSlots[slot] + (nint)(first * o.BytesPerItem), items * o.BytesPerItem);
                bindOut += WaitFromStart(download);
            }
        }
        catch (OnnxRuntimeException e) when (GpuOutOfMemory.Matches(e))
        {
            throw GpuOutOfMemory.Error(MaxBatch, e);
        }
        download.Record((int)CopyMark.CrossStart);
        foreach (var o in _outputs) download.Copy(o.DeviceSlots[slot], o.HostSlots[slot], batchSize * o.BytesPerItem);
        download.Record((int)CopyMark.CrossEnd);
        return new EngineTimings(bindIn, inference, bindOut);
    }

    /// <summary>Queues the batch on the run queue after its upload: per graph batch the uploaded canvases into the bound
    /// input, the run, the outputs into the slot's device copies; then the slot's download after them. Nothing waits
    /// here; the run queue's device time from the first copy to the last (bound copies included: microseconds) is the
    /// inference time, read once the download is done.</summary>
    private EngineTimings QueueOnDevice(int batchSize, int slot, CopyStream runs)
    {
        var download = _downloads[slot];
        try
        {
            runs.After(_uploads[slot], (int)CopyMark.CrossEnd);
            runs.Record(BatchStart(slot));
            for (int first = 0; first < batchSize; first += _graphBatch)
            {
                int items = Math.Min(_graphBatch, batchSize - first);
                runs.Copy(_deviceInputSlots[slot] + (nint)(first * _inputBytesPerItem), _input, items * _inputBytesPerItem);
                _session.RunWithBinding(_queuedRunOptions!, _binding);
                foreach (var o in _outputs) runs.Copy(o.Tensor, o.DeviceSlots[slot] + (nint)(first * o.BytesPerItem), items * o.BytesPerItem);
            }
            runs.Record(BatchEnd(slot));
        }
        catch (OnnxRuntimeException e) when (GpuOutOfMemory.Matches(e))
        {
            throw GpuOutOfMemory.Error(MaxBatch, e);
        }
        download.After(runs, BatchEnd(slot));
        download.Record((int)CopyMark.CrossStart);
        foreach (var o in _outputs) download.Copy(o.DeviceSlots[slot], o.HostSlots[slot], batchSize * o.BytesPerItem);
        download.Record((int)CopyMark.CrossEnd);
        return new EngineTimings(0, 0, 0);
    }

    private static double CopyAndWait(CopyStream stream, nint from, nint to, long bytes)
    {
        stream.Record((int)CopyMark.BoundStart);
        stream.Copy(from, to, bytes);
        return WaitFromStart(stream);
    }

    /// <summary>Marks the end of the bound copies queued since BoundStart, waits for it, and gives their device time.</summary>
    private static double WaitFromStart(CopyStream stream)
    {
        stream.Record((int)CopyMark.BoundEnd);
        stream.Wait((int)CopyMark.BoundEnd);
        return stream.ElapsedMs((int)CopyMark.BoundStart, (int)CopyMark.BoundEnd);
    }

    /// <summary>Copies one whole graph batch of input values straight into the bound input (for <see cref="RunAsBound"/>).</summary>
    public unsafe void LoadInput<T>(ReadOnlySpan<T> values) where T : unmanaged
    {
        long bytes = (long)values.Length * sizeof(T);
        if (bytes != _graphBatch * _inputBytesPerItem)
            throw new ArgumentException($"the bound input takes {_graphBatch * _inputBytesPerItem} bytes, not {bytes}", nameof(values));
        fixed (T* data = values)
        {
            nint pointer = (nint)data;
            _thread.Invoke(() => _memory.CopyIn(pointer, _input, bytes));
        }
    }

    /// <summary><paramref name="runs"/> runs on whatever the bound buffers hold: no copies, nothing decoded (ONNX
    /// Runtime's own time), one after the other on the engine's thread, each waiting for the GPU.</summary>
    public void RunAsBound(int runs)
    {
        try
        {
            _thread.Invoke(() =>
            {
                for (int i = 0; i < runs; i++) _session.RunWithBinding(_runOptions, _binding);
            });
        }
        catch (OnnxRuntimeException e) when (GpuOutOfMemory.Matches(e))
        {
            throw GpuOutOfMemory.Error(MaxBatch, e);
        }
    }

    /// <summary>Output shapes as the graph declares them, the batch filled in; null when another dimension is open.</summary>
    public static int[][]? StaticOutputShapes(IReadOnlyDictionary<string, NodeMetadata> outputs, IReadOnlyList<string> names, int graphBatch)
    {
        var shapes = names.Select(n => outputs[n].Dimensions.Select((d, i) => i == 0 && d <= 0 ? graphBatch : d).ToArray()).ToArray();
        return shapes.All(s => s.All(d => d > 0)) ? shapes : null;
    }

    /// <summary>Fixed buffers of the outputs' shapes, bound for good (CUDA graphs replay against fixed addresses).
    /// Where the graph leaves a dimension open, one run with outputs on the session's allocator tells the shapes
    /// first; such a run must not be captured, so the loader turns CUDA graphs off for those graphs.</summary>
    private BoundOutput[] BindOutputs(IReadOnlyList<string> outputNames)
    {
        var shapes = StaticOutputShapes(_session.OutputMetadata, outputNames, _graphBatch);
        if (shapes is null)
        {
            foreach (var name in outputNames) _binding.BindOutputToDevice(name, _memory.Info);
            _session.RunWithBinding(_runOptions, _binding);
            using (var values = _binding.GetOutputValues())
                shapes = values.Select(v => v.GetTensorTypeAndShape().Shape.Select(d => (int)d).ToArray()).ToArray();
            _binding.ClearBoundOutputs();
        }

        var outputs = new BoundOutput[outputNames.Count];
        for (int o = 0; o < outputs.Length; o++)
        {
            var shape = shapes[o];
            if (shape.Length == 0 || shape[0] != _graphBatch)
                throw new InvalidModelException($"output '{outputNames[o]}' has shape [{string.Join(",", shape)}]; expected the batch ({_graphBatch}) first");
            long floatsPerItem = shape.Skip(1).Aggregate(1L, (a, d) => a * d);
            long bytes = _graphBatch * floatsPerItem * sizeof(float), slotBytes = MaxBatch * floatsPerItem * sizeof(float);
            nint tensor = _memory.AllocateTensor(bytes);
            var hostSlots = Enumerable.Range(0, Slots).Select(_ => _memory.AllocateStaging(slotBytes)).ToArray();
            var deviceSlots = _memory.IsHost ? hostSlots : Enumerable.Range(0, Slots).Select(_ => _memory.AllocateTensor(slotBytes)).ToArray();
            _binding.BindOutput(outputNames[o], Track(OrtValue.CreateTensorValueWithData(_memory.Info, TensorElementType.Float,
                shape.Select(d => (long)d).ToArray(), tensor, bytes)));
            outputs[o] = new BoundOutput(outputNames[o], shape, floatsPerItem, tensor, deviceSlots, hostSlots);
        }
        return outputs;
    }

    private NamedTensor[] SlotOutputs(int slot, int batchSize)
    {
        if (_slotOutputs[slot] is { } last && last[0].Shape[0] == batchSize) return last;
        return _slotOutputs[slot] = _outputs.Select(o => new NamedTensor(o.Name,
            GC.AllocateUninitializedArray<float>(checked((int)(batchSize * o.FloatsPerItem))), [batchSize, .. o.Shape.Skip(1)])).ToArray();
    }

    private OrtValue Track(OrtValue value)
    {
        _values.Add(value);
        return value;
    }

    public void Dispose()
    {
        _thread.Dispose();
        foreach (var stream in _uploads.Concat(_downloads)) stream?.Dispose();
        _binding.Dispose();
        foreach (var value in _values) value.Dispose();
        _runOptions.Dispose();
        _queuedRunOptions?.Dispose();
        _session.Dispose();
        _runs?.Dispose();   // after the session, which runs on it
        _memory.Dispose();
    }
}

/// <summary>The input an <see cref="OrtBoundEngine"/> binds: graph input name, element type and the shape of one item.</summary>
public sealed record BoundInput(string Name, TensorElementType Type, long[] ItemShape, long BytesPerItem)
{
    /// <summary>The <see cref="PixelInputGraph"/>'s letterboxed 8-bit BGR canvas, [H, W, 3] per item.</summary>
    public static BoundInput Pixels(InputSpec spec) =>
        new(PixelInputGraph.InputName, TensorElementType.UInt8, [spec.Height, spec.Width, 3], 3L * spec.Width * spec.Height);

    /// <summary>The graph's own normalised float input in its layout.</summary>
    public static BoundInput Floats(InputSpec spec) => new(spec.TensorName, TensorElementType.Float,
        spec.Layout == TensorLayout.Nchw ? [3, spec.Height, spec.Width] : [spec.Height, spec.Width, 3], 3L * spec.Width * spec.Height * sizeof(float));
}
