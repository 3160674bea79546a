using Xunit;
namespace MoeDetect.Tests;

/// <summary>Locates the shared real data beside the checkout (<c>&lt;repo root&gt;/../shared</c>); null when absent.</summary>
internal static class SharedData
{
    public static string? Root { get; } = Find();

    public static string Coco128Annotations => Path.Combine(Root!, "data", "coco128-train", "annotations.json");

    private static string? Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (!File.Exists(Path.Combine(dir.FullName, "MoeDetect.sln"))) continue;
            string shared = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared"));
            return Directory.Exists(shared) ? shared : null;
        }
        return null;
    }
}

/// <summary>A fact that needs ../shared; skipped with the reason when the shared data is not beside the checkout.</summary>
internal sealed class SharedDataFactAttribute : FactAttribute
{
    public SharedDataFactAttribute()
    {
        if (SharedData.Root is null)
            Skip = "../shared (real COCO data) is absent beside the repository checkout";
    }
}
