namespace MoeDetect.Model;

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

    /// <summary>As <see cref="WriteAllText"/>, for a file that several writers may write at once (the caches that the
    /// GPU engines of one or more processes share): each write goes through a temporary file of its own, which is
    /// removed where the write fails. Its folder is made where missing.</summary>
    public static void WriteAllTextShared(string path, string contents)
    {
        string temporary = $"{TemporaryPathFor(path)}.{Guid.NewGuid():N}";
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            File.WriteAllText(temporary, contents);
            Commit(temporary, path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (File.Exists(temporary)) File.Delete(temporary);
            throw;
        }
    }

    public static void Commit(string temporaryPath, string finalPath) => File.Move(temporaryPath, finalPath, overwrite: true);
}
