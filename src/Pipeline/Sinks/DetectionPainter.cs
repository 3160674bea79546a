using OpenCvSharp;
using MoeDetect.Pipeline.Inference;

namespace MoeDetect.Pipeline.Sinks;

/// <summary>Draws boxes, labels and scores onto a frame, one stable colour per class.</summary>
public static class DetectionPainter
{
    public static void Paint(Mat image, FrameDetections detections)
    {
        int shortSide = Math.Min(image.Width, image.Height);
        int thickness = Math.Max(1, (int)Math.Round(shortSide / 480.0));
        double fontScale = Math.Max(0.35, shortSide / 1400.0);
        foreach (var d in detections.Detections)
        {
            var colour = ColourFor(d.ClassId);
            var box = new Rect((int)d.Box.X1, (int)d.Box.Y1, (int)Math.Max(1, d.Box.Width), (int)Math.Max(1, d.Box.Height));
            Cv2.Rectangle(image, box, colour, thickness);
            string caption = $"{d.Label} {d.Score:0.00}";
            var size = Cv2.GetTextSize(caption, HersheyFonts.HersheySimplex, fontScale, 1, out int baseline);
            int top = Math.Max(0, box.Y - size.Height - baseline);
            Cv2.Rectangle(image, new Rect(box.X, top, size.Width, size.Height + baseline), colour, -1);
            Cv2.PutText(image, caption, new Point(box.X, top + size.Height), HersheyFonts.HersheySimplex, fontScale, Scalar.Black, 1, LineTypes.AntiAlias);
        }
    }

    private static Scalar ColourFor(int classId)
    {
        // Golden-ratio hue steps keep neighbouring class ids visually apart.
        double hue = (classId * 0.618033988749895) % 1.0;
        using var hsv = new Mat(1, 1, MatType.CV_8UC3, new Scalar(hue * 180, 200, 255));
        using var bgr = new Mat();
        Cv2.CvtColor(hsv, bgr, ColorConversionCodes.HSV2BGR);
        var px = bgr.At<Vec3b>(0, 0);
        return new Scalar(px.Item0, px.Item1, px.Item2);
    }
}
