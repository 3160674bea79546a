using Xunit;

namespace MoeDetect.Tests.Conversion;

/// <summary>Paths relative to the repository root (the folder holding MoeDetect.sln); "../shared/…" reaches the shared data.</summary>
internal static class RepositoryFiles
{
    public static string Root { get; } = FindRoot();

    public static string Path(string relative) => System.IO.Path.GetFullPath(System.IO.Path.Combine(Root, relative));

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "MoeDetect.sln")))
                return dir.FullName;
        throw new InvalidOperationException($"no MoeDetect.sln above {AppContext.BaseDirectory}");
    }
}

/// <summary>A fact that needs files outside the repository (shared data, fetched teachers); skipped, naming them, when absent.</summary>
internal sealed class RequiresFilesFactAttribute : FactAttribute
{
    public RequiresFilesFactAttribute(string reason, params string[] relativePaths)
    {
        var missing = relativePaths.Where(p => !File.Exists(RepositoryFiles.Path(p))).ToList();
        if (missing.Count > 0)
            Skip = $"{reason}: missing {string.Join(", ", missing)}";
    }
}
