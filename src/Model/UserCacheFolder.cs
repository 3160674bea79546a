namespace MoeDetect.Model;

/// <summary>Where MoeDetect keeps what a machine measured for itself (engine choices, the ILGPU launch search's
/// answers): <c>moedetect/</c> in $XDG_CACHE_HOME where it is an absolute path, as the XDG base directory spec asks,
/// else in ~/.cache.</summary>
public static class UserCacheFolder
{
    public static string PathOf(string fileName) =>
        PathOf(fileName, Environment.GetEnvironmentVariable, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));

    public static string PathOf(string fileName, Func<string, string?> variable, string home)
    {
        string cache = variable("XDG_CACHE_HOME") is { } xdg && Path.IsPathRooted(xdg) ? xdg : Path.Combine(home, ".cache");
        return Path.Combine(cache, "moedetect", fileName);
    }
}
