using OpenCvSharp;

namespace MoeDetect.Pipeline.Frames;

/// <summary>One decoded picture: BGR pixels, where it came from, its index in that source and its presentation
/// time. Owns its pixels; dispose when done.</summary>
public sealed class Frame(Mat image, string source, long index, double timestampMs) : IDisposable
{
    public Mat Image { get; } = image;
    public string Source { get; } = source;
    public long Index { get; } = index;
    public double TimestampMs { get; } = timestampMs;
    public int Width => Image.Width;
    public int Height => Image.Height;

    public void Dispose() => Image.Dispose();
}
