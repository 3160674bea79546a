using OpenCvSharp;
using MoeDetect.Pipeline.Frames;
using MoeDetect.Pipeline.Inference;
using MoeDetect.Model;

namespace MoeDetect.Pipeline.Sinks;

/// <summary>Writes processed frames with their detections drawn as an MP4 (MPEG-4 Part 2 through OpenCV's
/// FFmpeg writer), opened lazily at the first frame's size, renamed into place on completion.</summary>
public sealed class AnnotatedVideoSink(string path, double framesPerSecond) : IDetectionSink
{
    private readonly string _temporaryPath = AtomicFile.TemporaryPathFor(path) + ".mp4";
    private VideoWriter? _writer;
    private bool _completed;

    public string Path => path;

    public void Write(Frame frame, FrameDetections detections)
    {
        _writer ??= Open(frame.Image.Size());
        DetectionPainter.Paint(frame.Image, detections);
        _writer.Write(frame.Image);
    }

    private VideoWriter Open(Size size)
    {
        var writer = new VideoWriter(_temporaryPath, VideoCaptureAPIs.FFMPEG, FourCC.FromString("mp4v"), framesPerSecond, size);
        if (!writer.IsOpened())
        {
            writer.Dispose();
            throw new IOException($"cannot write annotated video {path}: check that the output folder is writable");
        }
        return writer;
    }

    public void Complete()
    {
        if (_writer is null) return;
        _writer.Release();
        _writer.Dispose();
        AtomicFile.Commit(_temporaryPath, path);
        _completed = true;
    }

    public void Dispose()
    {
        // Not completed: the partial file stays under its temporary name, so nothing that looks complete is left.
        if (!_completed) _writer?.Dispose();
    }
}
