using MoeDetect.Model.Detections;

namespace MoeDetect.Model.Input;

/// <summary>The aspect-preserving resize that fits a source image into the network input, and its inverse for
/// mapping boxes back: r = min(W/w, H/h), resized to (round(w·r), round(h·r)), pasted at (dx, dy).</summary>
public readonly record struct LetterboxTransform(
    int SourceWidth, int SourceHeight, int TargetWidth, int TargetHeight,
    float Scale, int ResizedWidth, int ResizedHeight, int OffsetX, int OffsetY)
{
    public static LetterboxTransform Create(int sourceWidth, int sourceHeight, int targetWidth, int targetHeight, bool centered = true)
    {
        if (sourceWidth <= 0 || sourceHeight <= 0)
            throw new ArgumentException($"source size must be positive, got {sourceWidth}x{sourceHeight}");
        float scale = MathF.Min((float)targetWidth / sourceWidth, (float)targetHeight / sourceHeight);
        int rw = Math.Clamp((int)MathF.Round(sourceWidth * scale, MidpointRounding.AwayFromZero), 1, targetWidth);
        int rh = Math.Clamp((int)MathF.Round(sourceHeight * scale, MidpointRounding.AwayFromZero), 1, targetHeight);
        int dx = centered ? (targetWidth - rw) / 2 : 0;
        int dy = centered ? (targetHeight - rh) / 2 : 0;
        return new LetterboxTransform(sourceWidth, sourceHeight, targetWidth, targetHeight, scale, rw, rh, dx, dy);
    }

    /// <summary>Maps a box from network-input pixels to source pixels, clipped to the source image.</summary>
    public BoxF ToSource(BoxF inputBox) => new BoxF(
        (inputBox.X1 - OffsetX) / Scale, (inputBox.Y1 - OffsetY) / Scale,
        (inputBox.X2 - OffsetX) / Scale, (inputBox.Y2 - OffsetY) / Scale).ClipTo(SourceWidth, SourceHeight);

    /// <summary>Maps a box from source pixels to network-input pixels.</summary>
    public BoxF ToInput(BoxF sourceBox) => new(
        sourceBox.X1 * Scale + OffsetX, sourceBox.Y1 * Scale + OffsetY,
        sourceBox.X2 * Scale + OffsetX, sourceBox.Y2 * Scale + OffsetY);
}
