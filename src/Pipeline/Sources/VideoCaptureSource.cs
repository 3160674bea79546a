using OpenCvSharp;
using MoeDetect.Pipeline.Frames;

namespace MoeDetect.Pipeline.Sources;

/// <summary>Video files and image-sequence patterns through OpenCV's FFmpeg backend, capture devices through V4L2.
/// (Network streams go through <see cref="FfmpegStreamSource"/>.)</summary>
public sealed class VideoCaptureSource : IFrameSource
{
    private readonly VideoCapture _capture;

    public VideoCaptureSource(SourceSpec spec)
    {
        Spec = spec;
        _capture = spec.Kind == SourceKind.Device
            ? new VideoCapture(int.Parse(spec.Location), VideoCaptureAPIs.V4L2)
            : new VideoCapture(spec.Location, VideoCaptureAPIs.FFMPEG);
        if (!_capture.IsOpened())
        {
            _capture.Dispose();
            throw new SourceException(spec.Kind switch
            {
                SourceKind.Device => $"cannot open capture device {spec.Location}: check that it exists and is not in use",
                _ => $"cannot open video {spec.Location}: the file is corrupt, truncated or in an unsupported format",
            });
        }
        double count = _capture.Get(VideoCaptureProperties.FrameCount);
        FrameCount = spec.IsLive || count <= 0 ? null : (long)count;
        double fps = _capture.Get(VideoCaptureProperties.Fps);
        FramesPerSecond = fps > 0 && fps < 1000 ? fps : null;
    }

    public SourceSpec Spec { get; }
    public long? FrameCount { get; }
    public double? FramesPerSecond { get; }

    public IEnumerable<Frame> ReadFrames(CancellationToken cancellation)
    {
        long index = 0;
        while (!cancellation.IsCancellationRequested)
        {
            var image = new Mat();
            if (!_capture.Read(image) || image.Empty())
            {
                image.Dispose();
                if (index == 0)
                    throw new SourceException($"{Spec.Location} contains no decodable frames (empty or corrupt video)");
                yield break;
            }
            double timestamp = _capture.Get(VideoCaptureProperties.PosMsec);
            if (timestamp <= 0 && FramesPerSecond is { } fps) timestamp = index * 1000.0 / fps;
            yield return new Frame(image, Spec.Name, index++, timestamp);
        }
    }

    public void Dispose() => _capture.Dispose();
}
