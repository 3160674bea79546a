using System.Collections.Concurrent;
using System.Diagnostics;
using MoeDetect.Model.Decoding;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Input;
using MoeDetect.Model.Loading;
using MoeDetect.Pipeline.Frames;
using MoeDetect.Pipeline.Timing;

namespace MoeDetect.Pipeline.Inference;

/// <summary>The middle of the corridor: frames → preprocess → engine → decode + NMS → detections, timing each
/// stage into the given statistics. The frames of a batch are letterboxed and decoded in parallel (at batch 32 one
/// core's letterboxing takes longer than the GPU's inference). <see cref="Submit"/> also overlaps batches on engines
/// with two staging slots (<see cref="PixelPipeline{TBatch}"/>). Not thread-safe: one caller at a time.</summary>
public sealed class FrameDetector : IDisposable
{
    private readonly ConcurrentBag<FramePreprocessor> _preprocessors = [];
    private readonly PixelPipeline<LetterboxedBatch>? _pipeline;
    private float[] _batchInput = [];

    public FrameDetector(DetectorModel model, DecodeOptions options)
    {
        Model = model;
        Options = options;
        if (PixelPipeline.Supports(model.Engine)) _pipeline = new((IPixelInputEngine)model.Engine);
    }

    public DetectorModel Model { get; }
    public DecodeOptions Options { get; }

    /// <summary>Detects one batch now (waiting for it); not while <see cref="Submit"/>ted batches are pending.</summary>
    public IReadOnlyList<FrameDetections> Detect(IReadOnlyList<Frame> frames, StageStatistics statistics)
    {
        if (_pipeline is { IsRunning: true }) throw new InvalidOperationException("a submitted batch is still pending: Flush it first");
        return Submit(frames, statistics) ?? Flush(statistics)!;
    }

    /// <summary>Starts a batch and returns the detections of the oldest batch not returned yet, or null when that one
    /// still runs (batches come back in order; after the last, call <see cref="Flush"/>). On a two-slot engine this
    /// batch is letterboxed while the previous one runs, and the previous one is decoded while this one runs; other
    /// engines detect the batch at once and return it.</summary>
    public IReadOnlyList<FrameDetections>? Submit(IReadOnlyList<Frame> frames, StageStatistics statistics)
    {
        if (_pipeline is null)
        {
            var letterboxes = Letterbox(frames, statistics, Model.Engine is IPixelInputEngine pixels ? () => pixels.PixelStaging : null);
            return Decode(frames, letterboxes, Run(frames), statistics);
        }
        var pipeline = _pipeline;
        var written = Letterbox(frames, statistics, () => pipeline.Slot);
        return Decode(pipeline.Start(new LetterboxedBatch(frames, written), frames.Count), statistics);
    }

    /// <summary>The detections of the batch still running, if any (waits for it).</summary>
    public IReadOnlyList<FrameDetections>? Flush(StageStatistics statistics) => Decode(_pipeline?.Wait(), statistics);

    /// <summary>A batch handed to the engine, with what decoding it needs when it comes back.</summary>
    private sealed record LetterboxedBatch(IReadOnlyList<Frame> Frames, LetterboxTransform[] Letterboxes);

    private IReadOnlyList<FrameDetections>? Decode((LetterboxedBatch Batch, EngineOutput Output)? done, StageStatistics statistics) =>
        done is { } d ? Decode(d.Batch.Frames, d.Batch.Letterboxes, d.Output, statistics) : null;

    /// <summary>Letterboxes the frames into the float input or, for pixel engines, into the canvases <paramref name="staging"/> gives.</summary>
    private LetterboxTransform[] Letterbox(IReadOnlyList<Frame> frames, StageStatistics statistics, Func<Span<byte>>? staging)
    {
        // Values per image: floats for float engines, bytes (one per value) for pixel engines.
        int n = frames.Count, perImage = Model.Input.ValuesPerImage;
        if (staging is null && _batchInput.Length < n * perImage) _batchInput = new float[n * perImage];
        var clock = Stopwatch.StartNew();
        var letterboxes = new LetterboxTransform[n];
        FrameParallel.ForEach(n, () => _preprocessors.TryTake(out var p) ? p : new FramePreprocessor(Model.Input), (i, preprocessor) =>
            letterboxes[i] = staging is null
                ? preprocessor.Fill(frames[i].Image, _batchInput.AsSpan(i * perImage, perImage))
                : preprocessor.FillPixels(frames[i].Image, staging().Slice(i * perImage, perImage)),
            _preprocessors.Add);
        statistics.AddShared(Stages.Preprocess, clock.Elapsed.TotalMilliseconds, n);
        return letterboxes;
    }

    private EngineOutput Run(IReadOnlyList<Frame> frames)
    {
        int n = frames.Count;
        var input = _batchInput.AsMemory(0, n * Model.Input.ValuesPerImage);
        return Model.Engine switch
        {
            IRoutedPixelEngine routedPixels => routedPixels.RunPixels(n, frames.Select(f => f.Source).ToArray()),
            IPixelInputEngine pixels => pixels.RunPixels(n),
            IRoutedEngine routed => routed.Run(input, n, frames.Select(f => f.Source).ToArray()),
            var engine => engine.Run(input, n),
        };
    }

    private IReadOnlyList<FrameDetections> Decode(IReadOnlyList<Frame> frames, LetterboxTransform[] letterboxes, EngineOutput output,
        StageStatistics statistics)
    {
        int n = frames.Count;
        EngineStageTimes.Add(statistics, output, n);

        var clock = Stopwatch.StartNew();
        var results = new FrameDetections[n];
        FrameParallel.ForEach(n, i =>
        {
            var f = frames[i];
            results[i] = new FrameDetections(f.Source, f.Index, f.TimestampMs, f.Width, f.Height,
                Model.Decoder.Decode(output, i, letterboxes[i], Options), output.Routes?[i]);
        });
        statistics.AddShared(Stages.Postprocess, clock.Elapsed.TotalMilliseconds, n);
        return results;
    }

    /// <summary>Drops the batch still running, once the engine is done with it (the caller gave up on it, e.g. after
    /// an error): its frames may then be disposed and the detector used again.</summary>
    public void Abandon()
    {
        try
        {
            _pipeline?.Wait();
        }
        catch (Exception)
        {
            // Nobody waits for this batch any more; the error that made the caller give up is the one reported.
        }
    }

    public void Dispose()
    {
        Abandon();
        foreach (var preprocessor in _preprocessors) preprocessor.Dispose();
    }
}
