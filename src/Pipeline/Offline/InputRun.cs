using System.Diagnostics;
using System.Threading.Channels;
using MoeDetect.Pipeline.Frames;
using MoeDetect.Pipeline.Inference;
using MoeDetect.Pipeline.Progress;
using MoeDetect.Pipeline.Sinks;
using MoeDetect.Pipeline.Sources;
using MoeDetect.Pipeline.Timing;

namespace MoeDetect.Pipeline.Offline;

/// <summary>Processes one input: a decode task feeds a bounded channel (back-pressure: files never drop frames)
/// while this thread batches, detects and writes. Outputs are created at the first processed frame, so an input
/// that fails to open leaves no files.</summary>
internal sealed class InputRun(SourceSpec spec, FrameDetector detector, DetectJobOptions options,
    StageStatistics stages, RouteStatistics routes, IProgressReporter progress)
{
    private long _decoded, _processed, _detections;
    private JsonlDetectionSink? _jsonl;
    private AnnotatedVideoSink? _video;

    public async Task<InputOutcome> RunAsync(CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        string? error = null;
        try
        {
            using var source = FrameSources.Open(spec);
            progress.Started(spec.Name, ExpectedFrames(source.FrameCount));
            var frames = Channel.CreateBounded<Frame>(new BoundedChannelOptions(2 * options.BatchSize + 2)
                { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            var decoding = Task.Run(() => Decode(source, frames.Writer, stop.Token), CancellationToken.None);
            bool ranOut;
            try
            {
                await ConsumeAsync(frames.Reader, source.FramesPerSecond ?? 25, clock, cancellation);
            }
            finally
            {
                // The decoder must have stopped before the source is disposed, also when consuming failed.
                stop.Cancel();
                while (frames.Reader.TryRead(out var left)) left.Dispose();
                ranOut = await decoding;
                while (frames.Reader.TryRead(out var left)) left.Dispose();
            }
            if (ranOut && source.FrameCount is { } announced && _decoded < announced - Math.Max(2, announced / 100))
                error = $"video ended after {_decoded} of the {announced} frames its container announces (truncated or corrupt)";
        }
        catch (Exception e) when (e is SourceException or IOException or ChannelClosedException or UnauthorizedAccessException or OpenCvSharp.OpenCVException)
        {
            error = (e as ChannelClosedException)?.InnerException?.Message ?? e.Message;
        }
        catch (OperationCanceledException)
        {
            error = "cancelled";
        }
        string status = error is null ? "ok" : _processed > 0 ? "partial" : "failed";
        // Whatever was produced before an error is kept and published; the summary says it is partial.
        _jsonl?.Complete();
        _video?.Complete();
        _jsonl?.Dispose();
        _video?.Dispose();
        progress.Finished(spec.Name, status, error);
        return new InputOutcome(spec, status, error, _decoded, _processed, _detections, _jsonl?.Path, _video?.Path, clock.Elapsed.TotalSeconds);
    }

    private long? ExpectedFrames(long? frameCount)
    {
        if (frameCount is not { } count) return options.MaxFrames;
        long strided = (count + options.FrameStride - 1) / options.FrameStride;
        return options.MaxFrames is { } max ? Math.Min(max, strided) : strided;
    }

    /// <summary>Returns true when the source ran out of frames (rather than the run reaching --max-frames).</summary>
    private bool Decode(IFrameSource source, ChannelWriter<Frame> writer, CancellationToken cancellation)
    {
        long queued = 0;
        try
        {
            using var frames = source.ReadFrames(cancellation).GetEnumerator();
            var clock = Stopwatch.StartNew();
            while (frames.MoveNext())
            {
                stages.Add(Stages.Decode, clock.Elapsed.TotalMilliseconds);
                var frame = frames.Current;
                Interlocked.Increment(ref _decoded);
                if (frame.Index % options.FrameStride != 0)
                {
                    frame.Dispose();
                }
                else
                {
                    if (!writer.TryWrite(frame))
                        writer.WriteAsync(frame, cancellation).AsTask().GetAwaiter().GetResult();
                    if (options.MaxFrames is { } max && ++queued >= max)
                    {
                        writer.Complete();
                        return false;
                    }
                }
                clock.Restart();
            }
            writer.Complete();
            return true;
        }
        catch (Exception e)
        {
            writer.TryComplete(e);
            return true;
        }
    }

    /// <summary>Batches and detects on this thread while a writer task draws and encodes the previous batch, so
    /// the annotated video's encoding overlaps inference instead of adding to it; on two-slot GPU engines the detector
    /// also overlaps a batch's letterboxing and decoding with its neighbours' inference (<see cref="FrameDetector.Submit"/>).
    /// A failing writer (disk full) stops detection at the next batch with its error; whatever was written stays.</summary>
    private async Task ConsumeAsync(ChannelReader<Frame> reader, double sourceFps, Stopwatch clock, CancellationToken cancellation)
    {
        var detected = Channel.CreateBounded<DetectedBatch>(new BoundedChannelOptions(1)
            { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });
        var writing = Task.Run(() => WriteBatchesAsync(detected, sourceFps, clock), CancellationToken.None);
        // Batches handed to the detector whose detections have not come back yet (one on two-slot GPU engines).
        var pending = new Queue<List<Frame>>();
        async Task Pass(IReadOnlyList<FrameDetections>? results)
        {
            if (results is null) return;
            var frames = pending.Dequeue();
            try
            {
                await detected.Writer.WriteAsync(new DetectedBatch(frames, results), cancellation);
            }
            catch
            {
                Dispose(frames);
                throw;
            }
        }
        try
        {
            while (await reader.WaitToReadAsync(cancellation))
            {
                var batch = new List<Frame>(options.BatchSize);
                while (batch.Count < options.BatchSize && reader.TryRead(out var frame)) batch.Add(frame);
                pending.Enqueue(batch);
                await Pass(detector.Submit(batch, stages));
            }
            await Pass(detector.Flush(stages));
        }
        finally
        {
            if (pending.Count > 0) detector.Abandon();
            foreach (var batch in pending) Dispose(batch);
            detected.Writer.TryComplete();
            await writing;
            while (detected.Reader.TryRead(out var left)) Dispose(left.Frames);
        }
    }

    private async Task WriteBatchesAsync(Channel<DetectedBatch> detected, double sourceFps, Stopwatch clock)
    {
        try
        {
            await foreach (var batch in detected.Reader.ReadAllAsync())
            {
                try
                {
                    var write = Stopwatch.StartNew();
                    for (int i = 0; i < batch.Frames.Count; i++) Write(batch.Frames[i], batch.Results[i], sourceFps);
                    stages.AddShared(Stages.Write, write.Elapsed.TotalMilliseconds, batch.Frames.Count);
                }
                finally
                {
                    Dispose(batch.Frames);
                }
                progress.Advanced(spec.Name, _processed, Interlocked.Read(ref _decoded), _processed / Math.Max(1e-9, clock.Elapsed.TotalSeconds));
            }
        }
        catch (Exception e)
        {
            // Detection stops at its next batch (a ChannelClosedException); awaiting this task then raises e itself.
            detected.Writer.TryComplete(e);
            throw;
        }
    }

    private static void Dispose(List<Frame> frames)
    {
        foreach (var f in frames) f.Dispose();
    }

    private sealed record DetectedBatch(List<Frame> Frames, IReadOnlyList<FrameDetections> Results);

    private void Write(Frame frame, FrameDetections detections, double sourceFps)
    {
        _jsonl ??= new JsonlDetectionSink(Path.Combine(options.OutputFolder, spec.Name + ".jsonl"));
        _jsonl.Write(frame, detections);
        if (options.SaveVideo)
        {
            _video ??= new AnnotatedVideoSink(Path.Combine(options.OutputFolder, spec.Name + ".annotated.mp4"), sourceFps / options.FrameStride);
            _video.Write(frame, detections);
        }
        if (detections.Route is { } route) routes.Add(spec.Name, route);
        _processed++;
        _detections += detections.Detections.Count;
    }
}
