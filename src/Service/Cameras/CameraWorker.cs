using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MoeDetect.Pipeline.Frames;
using MoeDetect.Pipeline.Sources;
using MoeDetect.Pipeline.Timing;
using MoeDetect.Service.Configuration;
using MoeDetect.Service.Health;
using OpenCvSharp;

namespace MoeDetect.Service.Cameras;

/// <summary>Decodes one camera on its own thread and feeds its <see cref="CameraFeed"/>. A source that cannot be
/// opened or stops delivering marks the camera offline and is retried with backoff; nothing here can block
/// another camera or the detector. A file (or image folder) with <c>loop</c> is reopened at its end, so it stands in for a camera.</summary>
public sealed class CameraWorker(CameraFeed feed, ReconnectOptions reconnect, ServiceMetrics metrics, ILogger<CameraWorker> log)
    : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stopping) =>
        Task.Factory.StartNew(() => Run(stopping), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Run(CancellationToken stopping)
    {
        var backoff = new ReconnectBackoff(reconnect);
        var camera = feed.Options;
        while (!stopping.IsCancellationRequested)
        {
            string? failure;
            try
            {
                using var source = FrameSources.Open(Resolve(camera));
                failure = Stream(source, backoff, stopping);
                if (failure is null && !camera.Loop && !source.Spec.IsLive)
                {
                    log.LogInformation("camera {Camera}: {Source} played to its end", camera.Name, camera.Source);
                    feed.SetState(CameraState.Ended);
                    feed.Complete();
                    return;
                }
                if (failure is null && source.Spec.IsLive) failure = "the stream ended";
            }
            catch (SourceException e)
            {
                failure = e.Message;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // OpenCV can fail in ways no source check foresees (a codec error mid-stream); the camera retries.
                failure = $"{e.GetType().Name}: {e.Message}";
            }
            if (stopping.IsCancellationRequested) break;
            if (failure is null) continue;   // a looping file came to its end: replay at once

            var delay = backoff.NextDelay();
            if (feed.Status.State != CameraState.Offline)
                log.LogWarning("camera {Camera} offline: {Error}; retrying with backoff (first in {Delay:F1} s)", camera.Name, failure, delay.TotalSeconds);
            feed.SetState(CameraState.Offline, failure);
            stopping.WaitHandle.WaitOne(delay);
        }
        feed.SetState(CameraState.Stopped);
        feed.Complete();
    }

    /// <summary>Reads frames until the source ends (null) or fails (the reason).</summary>
    private string? Stream(IFrameSource source, ReconnectBackoff backoff, CancellationToken stopping)
    {
        var camera = feed.Options;
        double minIntervalMs = camera.FpsLimit is { } fps ? 1000 / fps : 0;
        double lastAcceptedMs = double.NegativeInfinity;
        var clock = Stopwatch.StartNew();
        using var frames = source.ReadFrames(stopping).GetEnumerator();
        while (frames.MoveNext())
        {
            metrics.ObserveStage(Stages.Decode, clock.Elapsed.TotalSeconds);
            var frame = frames.Current;
            feed.CountDecoded();
            if (feed.Status.State != CameraState.Online)
            {
                backoff.Reset();
                if (feed.Status.State == CameraState.Offline)
                    log.LogInformation("camera {Camera} back online after {Gap:F1} s", camera.Name, (DateTimeOffset.UtcNow - feed.Status.Since).TotalSeconds);
                feed.SetState(CameraState.Online);
            }
            // Frame times restart when a looping file begins again.
            if (frame.TimestampMs < lastAcceptedMs) lastAcceptedMs = double.NegativeInfinity;
            if (frame.TimestampMs - lastAcceptedMs < minIntervalMs - 0.5)
            {
                feed.CountSkipped();
                frame.Dispose();
            }
            else
            {
                lastAcceptedMs = frame.TimestampMs;
                if (!feed.Offer(new CapturedFrame(FitInputSize(frame, camera.InputSize), DateTimeOffset.UtcNow), stopping))
                    return null;
            }
            clock.Restart();
        }
        return null;
    }

    private static SourceSpec Resolve(CameraOptions camera)
    {
        var specs = InputResolver.Resolve([camera.Source]);
        if (specs.Count != 1)
            throw new SourceException($"camera source {camera.Source} gives {specs.Count} inputs; a camera needs exactly one stream, device or video file");
        return specs[0] with { Name = camera.Name };
    }

    /// <summary>Scales a frame down (never up) to fit the camera's input size, keeping its aspect ratio.</summary>
    private static Frame FitInputSize(Frame frame, FrameSize? size)
    {
        if (size is null || (frame.Width <= size.Width && frame.Height <= size.Height)) return frame;
        double scale = Math.Min((double)size.Width / frame.Width, (double)size.Height / frame.Height);
        var resized = new Mat();
        Cv2.Resize(frame.Image, resized, new Size(Math.Max(1, (int)Math.Round(frame.Width * scale)), Math.Max(1, (int)Math.Round(frame.Height * scale))),
            interpolation: InterpolationFlags.Area);
        var result = new Frame(resized, frame.Source, frame.Index, frame.TimestampMs);
        frame.Dispose();
        return result;
    }
}
