using Microsoft.Extensions.FileSystemGlobbing;

namespace MoeDetect.Pipeline.Sources;

/// <summary>Turns what the user typed (files, folders, globs, URLs, device numbers) into sources. A folder gives
/// each video in it as one source and its images together as one image sequence. Names for outputs are made
/// unique across the run.</summary>
public static class InputResolver
{
    public static readonly IReadOnlySet<string> VideoExtensions =
        new HashSet<string>(StringComparer.OrdinalIgnoreCase) { ".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg", ".ts", ".wmv", ".flv" };
    public static readonly IReadOnlySet<string> ImageExtensions =
        new HashSet<string>(StringComparer.OrdinalIgnoreCase) { ".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp" };

    public static IReadOnlyList<SourceSpec> Resolve(IEnumerable<string> inputs)
    {
        var specs = new List<SourceSpec>();
        foreach (var input in inputs)
            specs.AddRange(ResolveOne(input));
        return MakeNamesUnique(specs);
    }

    private static IEnumerable<SourceSpec> ResolveOne(string input)
    {
        if (Uri.TryCreate(input, UriKind.Absolute, out var uri) && uri.Scheme is "rtsp" or "rtsps" or "http" or "https" or "rtmp" or "udp" or "tcp")
            return [new SourceSpec(SourceKind.Stream, input, SafeName(uri.Host + uri.AbsolutePath))];
        if (int.TryParse(input, out int device) && device >= 0)
            return [new SourceSpec(SourceKind.Device, input, $"device{device}")];
        if (Directory.Exists(input))
            return FromFolder(input);
        if (File.Exists(input))
            return [FromFile(input)];
        if (input.Contains('*') || input.Contains('?'))
            return FromGlob(input);
        if (input.Contains('%'))   // printf-style image sequence, e.g. frames/img_%04d.jpg, read by FFmpeg's image2 demuxer
            return [new SourceSpec(SourceKind.VideoFile, input, SafeName(Path.GetFileNameWithoutExtension(input).Replace("%", "")))];
        throw new SourceException($"input not found: {input} (expected a video or image file, a folder, a glob, a URL or a device number)");
    }

    private static SourceSpec FromFile(string path)
    {
        string extension = Path.GetExtension(path);
        if (ImageExtensions.Contains(extension))
            return new SourceSpec(SourceKind.ImageSequence, path, SafeName(Path.GetFileNameWithoutExtension(path)), [path]);
        return new SourceSpec(SourceKind.VideoFile, path, SafeName(Path.GetFileNameWithoutExtension(path)));
    }

    private static IEnumerable<SourceSpec> FromFolder(string folder)
    {
        var files = Directory.EnumerateFiles(folder).Order(StringComparer.Ordinal).ToList();
        var videos = files.Where(f => VideoExtensions.Contains(Path.GetExtension(f))).Select(FromFile).ToList();
        var images = files.Where(f => ImageExtensions.Contains(Path.GetExtension(f))).ToList();
        if (images.Count > 0)
            videos.Add(new SourceSpec(SourceKind.ImageSequence, folder, SafeName(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)))), images));
        if (videos.Count == 0)
            throw new SourceException($"folder {folder} holds no videos or images (looked for {string.Join(" ", VideoExtensions)} and {string.Join(" ", ImageExtensions)})");
        return videos;
    }

    private static IEnumerable<SourceSpec> FromGlob(string pattern)
    {
        // The root is the longest leading part without wildcards; the rest is matched (supports **).
        string full = Path.GetFullPath(pattern);
        int firstWildcard = full.IndexOfAny(['*', '?']);
        string root = Path.GetDirectoryName(full[..(firstWildcard + 1)]) ?? "/";
        var matcher = new Matcher(StringComparison.Ordinal);
        matcher.AddInclude(Path.GetRelativePath(root, full));
        var files = matcher.GetResultsInFullPath(root).Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0)
            throw new SourceException($"no files match {pattern}");
        return files.Select(FromFile);
    }

    private static string SafeName(string text)
    {
        var chars = text.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_').ToArray();
        var name = new string(chars).Trim('_', '.');
        return name.Length == 0 ? "input" : name;
    }

    private static IReadOnlyList<SourceSpec> MakeNamesUnique(List<SourceSpec> specs)
    {
        var seen = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        return specs.Select(s =>
        {
            int n = seen.GetValueOrDefault(s.Name);
            seen[s.Name] = n + 1;
            return n == 0 ? s : s with { Name = $"{s.Name}_{n + 1}" };
        }).ToList();
    }
}
