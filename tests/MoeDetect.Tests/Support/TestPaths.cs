namespace MoeDetect.Tests.Support;

/// <summary>Where tests find the repository, its bundled models and the shared real data (../shared beside the
/// checkout).</summary>
public static class TestPaths
{
    public static string RepositoryRoot { get; } = FindRoot();
    public static string Models => Path.Combine(RepositoryRoot, "models");
    public static string DefaultModel => Path.Combine(Models, "centernet-mnv3.onnx");
    public static string Shared => Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared"));
    public static string SharedVideo(string name) => Path.Combine(Shared, "data", "video", name);
    public static string Coco128 => Path.Combine(Shared, "data", "coco128-train");
    public static string Coco128Annotations => Path.Combine(Coco128, "annotations.json");

    /// <summary>Null when ../shared is present; otherwise the reason a test that needs it is skipped.</summary>
    public static string? SharedMissing =>
        Directory.Exists(Shared) ? null : $"../shared is absent beside the checkout ({Shared}); this test needs its real data";

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "MoeDetect.sln"))) return dir.FullName;
        throw new InvalidOperationException("MoeDetect.sln not found above the test assembly");
    }

    public static string NewTempFolder()
    {
        string path = Path.Combine(Path.GetTempPath(), "moedetect-tests", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(path);
        return path;
    }
}
