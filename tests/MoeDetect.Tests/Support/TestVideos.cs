using OpenCvSharp;

namespace MoeDetect.Tests.Support;

/// <summary>Real encoded test clips made with OpenCV's FFmpeg writer: a moving bright square on a dark field.</summary>
public static class TestVideos
{
    public static string Write(string path, int frames, int width = 160, int height = 120, double fps = 10, string fourcc = "mp4v")
    {
        using var writer = new VideoWriter(path, VideoCaptureAPIs.FFMPEG, FourCC.FromString(fourcc), fps, new Size(width, height));
        if (!writer.IsOpened()) throw new InvalidOperationException($"cannot write test video {path}");
        for (int i = 0; i < frames; i++)
        {
            using var image = new Mat(height, width, MatType.CV_8UC3, new Scalar(30, 30, 30));
            Cv2.Rectangle(image, new Rect((i * 5) % (width - 20), height / 3, 20, 20), new Scalar(0, 200, 255), -1);
            writer.Write(image);
        }
        writer.Release();
        return path;
    }

    /// <summary>Keeps only the first part of a file, as an interrupted copy or download would.</summary>
    public static string Truncate(string source, string target, double keepFraction)
    {
        var bytes = File.ReadAllBytes(source);
        File.WriteAllBytes(target, bytes[..(int)(bytes.Length * keepFraction)]);
        return target;
    }
}
