using Xunit;

namespace MoeDetect.Tests.GpuEngine;

/// <summary>Files of the repository the tests run from (found by walking up to MoeDetect.sln).</summary>
internal static class RepositoryFiles
{
    public static string Root { get; } = FindRoot();

    public static string DefaultModel => Path.Combine(Root, "models", "centernet-mnv3.onnx");

    public static string? Coco128Images
    {
        get
        {
            string images = Path.GetFullPath(Path.Combine(Root, "..", "shared", "data", "coco128-train", "images"));
            return Directory.Exists(images) ? images : null;
        }
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "MoeDetect.sln"))) return dir.FullName;
        throw new InvalidOperationException("tests must run from inside the repository (no MoeDetect.sln above " + AppContext.BaseDirectory + ")");
    }
}

/// <summary>A fact that needs the bundled default model and the real COCO images of ../shared; skipped with the
/// reason when either is absent.</summary>
internal sealed class DefaultModelAndImagesFactAttribute : FactAttribute
{
    public DefaultModelAndImagesFactAttribute()
    {
        if (!File.Exists(RepositoryFiles.DefaultModel))
            Skip = $"the default model {RepositoryFiles.DefaultModel} is not in this checkout";
        else if (RepositoryFiles.Coco128Images is null)
            Skip = "../shared/data/coco128-train/images (real COCO images) is absent beside the repository checkout";
    }
}
