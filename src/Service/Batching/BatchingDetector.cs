using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MoeDetect.Model.Decoding;
using MoeDetect.Model.Loading;
using MoeDetect.Pipeline.Inference;
using MoeDetect.Pipeline.Timing;
using MoeDetect.Service.Cameras;
using MoeDetect.Service.Configuration;
using MoeDetect.Service.Events;
using MoeDetect.Service.Health;
using MoeDetect.Service.Mqtt;

namespace MoeDetect.Service.Batching;

/// <summary>The one detector all cameras share. It takes at most one frame from each camera that has one (taking
/// turns, so no camera starves another), runs them as one batch, and hands each result to its camera's event
/// processor. It decodes at the lowest threshold any camera needs; cameras filter by their own confidence and
/// labels. On shutdown the batch in flight is finished and every open event is ended.</summary>
public sealed class BatchingDetector(
    DetectorModel model, ServiceOptions options, IReadOnlyList<CameraFeed> feeds, SemaphoreSlim arrivals,
    MqttPublisher mqtt, ServiceMetrics metrics, ILogger<BatchingDetector> log) : BackgroundService
{
    /// <summary>Frames processed so far, over all cameras (health checks watch it move).</summary>
    public long FramesProcessed => Interlocked.Read(ref _framesProcessed);
    public DateTimeOffset LastBatchAt { get; private set; } = DateTimeOffset.UtcNow;
    private long _framesProcessed;

    protected override Task ExecuteAsync(CancellationToken stopping) =>
        Task.Factory.StartNew(() => Run(stopping), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Run(CancellationToken stopping)
    {
        float lowest = (float)Math.Min(options.Tracking.LowConfidence, options.Cameras.Min(c => c.Confidence));
        using var detector = new FrameDetector(model, new DecodeOptions(lowest, (float)options.Model.Iou, MaxDetections: 300));
        var processors = feeds.ToDictionary(f => f, f => new CameraEventProcessor(f.Options, options, mqtt, metrics));
        int maxBatch = Math.Min(options.Model.MaxBatch, model.Engine.MaxBatch), turn = 0;
        var batch = new List<(CameraFeed Feed, CapturedFrame Frame)>(maxBatch);
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                try { arrivals.Wait(TimeSpan.FromSeconds(1), stopping); }
                catch (OperationCanceledException) { break; }

                for (int i = 0; i < feeds.Count && batch.Count < maxBatch; i++)
                {
                    var feed = feeds[(turn + i) % feeds.Count];
                    if (feed.Frames.TryRead(out var frame)) batch.Add((feed, frame));
                }
                turn = (turn + 1) % feeds.Count;
                foreach (var (feed, processor) in processors)
                    if (feed.Status.State != CameraState.Online && !feed.Frames.TryPeek(out _))
                        processor.Close();   // a camera that went away ends its objects
                if (batch.Count == 0) continue;
                try
                {
                    RunBatch(detector, batch, processors);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // One bad frame must not stop every camera; /healthz turns unhealthy if no batch succeeds for long.
                    log.LogError(e, "detector failed on frames of {Cameras}; they are skipped", string.Join(", ", batch.Select(b => b.Feed.Name)));
                    foreach (var (_, f) in batch) f.Dispose();
                    batch.Clear();
                }
            }
        }
        catch (Exception e)
        {
            log.LogCritical(e, "detector failed; the service cannot go on");
            throw;
        }
        finally
        {
            foreach (var (_, f) in batch) f.Dispose();
            foreach (var feed in feeds)
                while (feed.Frames.TryRead(out var left)) left.Dispose();
            foreach (var processor in processors.Values)
            {
                processor.Close();
                processor.Dispose();
            }
        }
    }

    private void RunBatch(FrameDetector detector, List<(CameraFeed Feed, CapturedFrame Frame)> batch,
        Dictionary<CameraFeed, CameraEventProcessor> processors)
    {
        var statistics = new StageStatistics();
        var results = detector.Detect(batch.Select(b => b.Frame.Frame).ToList(), statistics);
        metrics.ObserveBatch(batch.Count);
        foreach (var stage in statistics.Summarise())
            metrics.ObserveStage(stage.Stage, stage.MeanMs / 1000, stage.Count);
        for (int i = 0; i < batch.Count; i++)
        {
            var (feed, frame) = batch[i];
            var clock = System.Diagnostics.Stopwatch.StartNew();
            processors[feed].Process(frame, results[i]);
            metrics.ObserveStage(Stages.Publish, clock.Elapsed.TotalSeconds);
            if (results[i].Route is { } route) metrics.ObserveRoute(route);
            feed.CountProcessed();
            frame.Dispose();
        }
        Interlocked.Add(ref _framesProcessed, batch.Count);
        LastBatchAt = DateTimeOffset.UtcNow;
        batch.Clear();
    }
}
