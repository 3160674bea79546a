using System.Text.Json;
using System.Text.RegularExpressions;

namespace MoeDetect.Model.Loading;

/// <summary>Reads class names from model metadata: the Ultralytics form (a Python dict literal
/// <c>{0: 'person', 1: 'bicycle'}</c>) or a JSON array.</summary>
public static partial class ClassNames
{
    public static IReadOnlyList<string>? Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        text = text.Trim();
        if (text.StartsWith('['))
            return JsonSerializer.Deserialize<string[]>(text);
        var entries = DictEntry().Matches(text)
            .Select(m => (Id: int.Parse(m.Groups["id"].Value), Name: Regex.Unescape(m.Groups["name"].Value)))
            .OrderBy(e => e.Id).ToList();
        if (entries.Count == 0) return null;
        var names = Enumerable.Range(0, entries[^1].Id + 1).Select(i => $"class{i}").ToArray();
        foreach (var (id, name) in entries) names[id] = name;
        return names;
    }

    [GeneratedRegex("""(?<id>\d+)\s*:\s*(?:'(?<name>(?:[^'\\]|\\.)*)'|"(?<name>(?:[^"\\]|\\.)*)")""")]
    private static partial Regex DictEntry();
}
