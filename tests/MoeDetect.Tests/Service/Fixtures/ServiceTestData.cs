using OpenCvSharp;

namespace MoeDetect.Tests.Service.Fixtures;

/// <summary>Where the service tests find the repository's model and the shared real videos, and the small clips
/// and temporary folders they make.</summary>
public static class ServiceTestData
{
    public static string RepositoryRoot { get; } = FindRoot();
    public static string DefaultModel => Path.Combine(RepositoryRoot, "models", "centernet-mnv3.onnx");
    public static string SharedVideo(string name) => Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared", "data", "video", name));

    public static string NewFolder()
    {
        string path = Path.Combine(Path.GetTempPath(), "moedetect-service-tests", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>A real MPEG-4 clip from OpenCV's FFmpeg writer: a bright square crossing a dark field left to right.</summary>
    public static string WriteClip(string path, int frames, int width = 160, int height = 120, double fps = 25)
    {
        using var writer = new VideoWriter(path, VideoCaptureAPIs.FFMPEG, FourCC.FromString("mp4v"), fps, new Size(width, height));
        if (!writer.IsOpened()) throw new InvalidOperationException($"cannot write test video {path}");
        for (int i = 0; i < frames; i++)
        {
            using var image = new Mat(height, width, MatType.CV_8UC3, new Scalar(30, 30, 30));
            Cv2.Rectangle(image, new Rect(i * (width - 20) / Math.Max(1, frames - 1), height / 3, 20, 20), new Scalar(0, 200, 255), -1);
            writer.Write(image);
        }
        writer.Release();
        return path;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "MoeDetect.sln"))) return dir.FullName;
        throw new InvalidOperationException("MoeDetect.sln not found above the test assembly");
    }
}
