namespace MoeDetect.Pipeline.Sinks;

/// <summary>Files that appear whole or not at all: written under a temporary name in the same folder, then
/// renamed over the final name (a rename within one file system is atomic).</summary>
public static class AtomicFile
{
    public static string TemporaryPathFor(string finalPath) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(finalPath))!, "." + Path.GetFileName(finalPath) + ".partial");

    public static void WriteAllText(string path, string contents)
    {
        string temporary = TemporaryPathFor(path);
        File.WriteAllText(temporary, contents);
        Commit(temporary, path);
    }

    public static void Commit(string temporaryPath, string finalPath) => File.Move(temporaryPath, finalPath, overwrite: true);
}
