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
/// core's letterboxing takes longer than the GPU's inference). Not thread-safe: one caller at a time.</summary>
public sealed class FrameDetector(DetectorModel model, DecodeOptions options) : IDisposable
{
    private readonly ConcurrentBag<FramePreprocessor> _preprocessors = [];
    private float[] _batchInput = [];

    public DetectorModel Model { get; } = model;
    public DecodeOptions Options { get; } = options;

    public IReadOnlyList<FrameDetections> Detect(IReadOnlyList<Frame> frames, StageStatistics statistics)
    {
        // Values per image: floats for float engines, bytes (one per value) for pixel engines.
        int n = frames.Count, perImage = Model.Input.ValuesPerImage;
        if (Model.Engine is not IPixelInputEngine && _batchInput.Length < n * perImage) _batchInput = new float[n * perImage];

        var clock = Stopwatch.StartNew();
        var letterboxes = new LetterboxTransform[n];
        var pixelEngine = Model.Engine as IPixelInputEngine;
        FrameParallel.ForEach(n, () => _preprocessors.TryTake(out var p) ? p : new FramePreprocessor(Model.Input), (i, preprocessor) =>
            letterboxes[i] = pixelEngine is null
                ? preprocessor.Fill(frames[i].Image, _batchInput.AsSpan(i * perImage, perImage))
                : preprocessor.FillPixels(frames[i].Image, pixelEngine.PixelStaging.Slice(i * perImage, perImage)),
            _preprocessors.Add);
        statistics.AddShared(Stages.Preprocess, clock.Elapsed.TotalMilliseconds, n);

        var input = _batchInput.AsMemory(0, n * perImage);
        var output = pixelEngine is IRoutedPixelEngine routedPixels ? routedPixels.RunPixels(n, frames.Select(f => f.Source).ToArray())
            : pixelEngine is not null ? pixelEngine.RunPixels(n)
            : Model.Engine is IRoutedEngine routed ? routed.Run(input, n, frames.Select(f => f.Source).ToArray())
            : Model.Engine.Run(input, n);
        var t = output.Timings;
        statistics.AddShared(Stages.Upload, t.UploadMs, n);
        statistics.AddShared(Stages.Inference, t.InferenceMs, n);
        statistics.AddShared(Stages.Download, t.DownloadMs, n);
        if (output.Routes is not null)
        {
            statistics.AddShared(Stages.Route, t.RouteMs, n);
            statistics.AddShared(Stages.Experts, t.ExpertsMs, n);
        }

        clock.Restart();
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

    public void Dispose()
    {
        foreach (var preprocessor in _preprocessors) preprocessor.Dispose();
    }
}
