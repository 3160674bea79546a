using System.Text;

namespace MoeDetect.Conversion;

/// <summary>The class names written to the <c>names</c> metadata: the COCO-80 list shipped with the converter, or one read from a file.</summary>
public static class NamesMetadata
{
    /// <summary>The 80 COCO class names in the standard (Ultralytics/Darknet) order.</summary>
    public static IReadOnlyList<string> Coco80 { get; } = ReadLines(
        typeof(NamesMetadata).Assembly.GetManifestResourceStream("MoeDetect.Conversion.coco80.names")
        ?? throw new InvalidOperationException("coco80.names resource missing from the build"));

    /// <summary>One class name per line; blank lines ignored.</summary>
    public static IReadOnlyList<string> FromFile(string path)
    {
        if (!File.Exists(path))
            throw new ModelConversionException($"Class-names file '{path}' does not exist; give a text file with one class name per line.");
        var names = ReadLines(File.OpenRead(path));
        return names.Count > 0 ? names : throw new ModelConversionException($"Class-names file '{path}' has no names; put one class name per line.");
    }

    /// <summary>The Ultralytics "names" metadata form: <c>{0: 'person', 1: 'bicycle'}</c>, quoted as Python's repr would.</summary>
    public static string ToPythonDict(IReadOnlyList<string> names)
    {
        var sb = new StringBuilder("{");
        for (var i = 0; i < names.Count; i++)
            sb.Append(i > 0 ? ", " : "").Append(i).Append(": '").Append(names[i].Replace("\\", "\\\\").Replace("'", "\\'")).Append('\'');
        return sb.Append('}').ToString();
    }

    private static List<string> ReadLines(Stream stream)
    {
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
    }
}
