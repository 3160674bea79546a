using MoeDetect.Model.Detections;
using OpenCvSharp;

namespace MoeDetect.Service.Outputs;

/// <summary>Writes an event's picture — the whole frame with the object's box and label — as JPEG under
/// <c>&lt;folder&gt;/&lt;camera&gt;/&lt;event id&gt;.jpg</c>. Encoding runs off the detector thread on a copy.</summary>
public sealed class SnapshotWriter(string folder)
{
    /// <summary>Starts writing and returns the path that the event message refers to.</summary>
    public string Write(Mat frame, string camera, string eventId, BoxF box, string caption)
    {
        string path = Path.Combine(folder, camera, eventId + ".jpg");
        var copy = frame.Clone();
        Task.Run(() =>
        {
            using (copy)
            {
                Annotations.Draw(copy, box, caption, Scalar.LimeGreen);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                Cv2.ImWrite(path, copy, new ImageEncodingParam(ImwriteFlags.JpegQuality, 90));
            }
        });
        return path;
    }
}

/// <summary>Boxes with a caption, as snapshots and recorded clips show them.</summary>
internal static class Annotations
{
    public static void Draw(Mat image, BoxF box, string caption, Scalar color)
    {
        var rect = new Rect((int)box.X1, (int)box.Y1, Math.Max(1, (int)box.Width), Math.Max(1, (int)box.Height));
        Cv2.Rectangle(image, rect, color, 2);
        Cv2.PutText(image, caption, new Point(rect.X, Math.Max(12, rect.Y - 4)), HersheyFonts.HersheySimplex, 0.5, color, 1, LineTypes.AntiAlias);
    }
}
