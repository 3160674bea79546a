namespace MoeDetect.Evaluation;

/// <summary>A box in COCO convention: top-left corner and size, in pixels.</summary>
public readonly record struct CocoBox(double X, double Y, double Width, double Height)
{
    public double Area => Width * Height;

    /// <summary>The overlap pycocotools uses for bbox evaluation: intersection over union, except against a crowd
    /// region, where it is intersection over the detection's own area (a detection inside a crowd fully overlaps it).</summary>
    public static double Overlap(CocoBox detection, CocoBox truth, bool truthIsCrowd)
    {
        double w = Math.Min(detection.X + detection.Width, truth.X + truth.Width) - Math.Max(detection.X, truth.X);
        if (w <= 0) return 0;
        double h = Math.Min(detection.Y + detection.Height, truth.Y + truth.Height) - Math.Max(detection.Y, truth.Y);
        if (h <= 0) return 0;
        double intersection = w * h;
        double union = truthIsCrowd ? detection.Area : detection.Area + truth.Area - intersection;
        return intersection / union;
    }
}
