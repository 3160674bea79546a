using MoeDetect.Pipeline.Inference;
using MoeDetect.Pipeline.Sinks;
using MoeDetect.Service.Tracking;
using OpenCvSharp;

namespace MoeDetect.Service.Outputs;

/// <summary>Records one camera's annotated frames (boxes with track ids) while it has tracked objects, and for a
/// tail after the last one is gone, as <c>&lt;folder&gt;/&lt;camera&gt;/&lt;start time&gt;.mp4</c>.</summary>
public sealed class ClipRecorder(string folder, string camera, double tailSeconds, double framesPerSecond) : IDisposable
{
    private VideoWriter? _writer;
    private DateTimeOffset _lastActive;
    private Size _size;

    public void Add(Mat frame, IReadOnlyList<TrackedObject> tracks, DateTimeOffset time)
    {
        var visible = tracks.Where(t => t.Confirmed && !t.Lost).ToList();
        if (visible.Count > 0) _lastActive = time;
        if (_writer is null && visible.Count == 0) return;
        if (_writer is not null && visible.Count == 0 && (time - _lastActive).TotalSeconds > tailSeconds)
        {
            Dispose();
            return;
        }
        if (_writer is null)
        {
            string path = Path.Combine(folder, camera, $"{time:yyyyMMdd-HHmmss}.mp4");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            _size = frame.Size();
            _writer = new VideoWriter(path, FourCC.MP4V, framesPerSecond, _size);
        }
        using var annotated = frame.Clone();
        DetectionPainter.Paint(annotated, new FrameDetections(camera, 0, 0, annotated.Width, annotated.Height,
            visible.Select(t => t.ToDetection()).ToList(), null));
        if (annotated.Size() == _size)   // a camera that changed resolution mid-clip: keep the clip playable
            _writer.Write(annotated);
    }

    public void Dispose()
    {
        _writer?.Dispose();
        _writer = null;
    }
}
