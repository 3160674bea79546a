using MoeDetect.Pipeline.Inference;
using MoeDetect.Pipeline.Sinks;
using MoeDetect.Service.Tracking;
using OpenCvSharp;

namespace MoeDetect.Service.Outputs;

/// <summary>Writes an event's picture — the whole frame with the object's box and label — as JPEG under
/// <c>&lt;folder&gt;/&lt;camera&gt;/&lt;event id&gt;.jpg</c>. Encoding runs off the detector thread on a copy.</summary>
public sealed class SnapshotWriter(string folder)
{
    /// <summary>Starts writing and returns the path that the event message refers to.</summary>
    public string Write(Mat frame, string camera, string eventId, TrackedObject track)
    {
        string path = Path.Combine(folder, camera, eventId + ".jpg");
        var copy = frame.Clone();
        var detection = track.ToDetection();   // the object as it is now, not when the task runs
        Task.Run(() =>
        {
            using (copy)
            {
                DetectionPainter.Paint(copy, new FrameDetections(camera, 0, 0, copy.Width, copy.Height, [detection], null));
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                Cv2.ImWrite(path, copy, new ImageEncodingParam(ImwriteFlags.JpegQuality, 90));
            }
        });
        return path;
    }
}
