namespace MoeDetect.Model.Detections;

/// <summary>An axis-aligned box in pixels, corners (x1, y1) top-left and (x2, y2) bottom-right.</summary>
public readonly record struct BoxF(float X1, float Y1, float X2, float Y2)
{
    public float Width => MathF.Max(0, X2 - X1);
    public float Height => MathF.Max(0, Y2 - Y1);
    public float Area => Width * Height;

    public float IntersectionOverUnion(BoxF other)
    {
        float iw = MathF.Min(X2, other.X2) - MathF.Max(X1, other.X1);
        float ih = MathF.Min(Y2, other.Y2) - MathF.Max(Y1, other.Y1);
        if (iw <= 0 || ih <= 0) return 0;
        float inter = iw * ih;
        return inter / (Area + other.Area - inter);
    }

    public BoxF ClipTo(float width, float height) => new(
        Math.Clamp(X1, 0, width), Math.Clamp(Y1, 0, height),
        Math.Clamp(X2, 0, width), Math.Clamp(Y2, 0, height));

    public static BoxF FromCenter(float cx, float cy, float w, float h) =>
        new(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2);
}

/// <summary>One detected object: class, confidence and box in source-image pixels.</summary>
public sealed record Detection(int ClassId, string Label, float Score, BoxF Box);
