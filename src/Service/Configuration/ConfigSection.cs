using System.Globalization;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace MoeDetect.Service.Configuration;

/// <summary>Reads one mapping of the YAML/JSON tree into typed values, noting every wrong type, unknown key and
/// missing environment variable with its path instead of stopping at the first. Scalars may name environment
/// variables as <c>${NAME}</c> or <c>${NAME:-default}</c>, which keeps secrets out of the file.</summary>
internal sealed partial class ConfigSection(YamlMappingNode node, string path, List<ConfigProblem> problems)
{
    private readonly HashSet<string> _read = [];

    public string Path { get; } = path;

    public string? Text(string key)
    {
        var scalar = Scalar(key);
        return scalar is null ? null : Expand(scalar, Child(key));
    }

    public double? Number(string key)
    {
        var text = Text(key);
        if (text is null) return null;
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value)) return value;
        Problem(key, $"expected a number, got '{text}'");
        return null;
    }

    public int? Integer(string key)
    {
        var text = Text(key);
        if (text is null) return null;
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value)) return value;
        Problem(key, $"expected a whole number, got '{text}'");
        return null;
    }

    public bool? Flag(string key)
    {
        var text = Text(key);
        if (text is null) return null;
        if (bool.TryParse(text, out bool value)) return value;
        Problem(key, $"expected true or false, got '{text}'");
        return null;
    }

    public ConfigSection? Section(string key)
    {
        var child = Get(key);
        if (child is null) return null;
        if (child is YamlMappingNode mapping) return new ConfigSection(mapping, Child(key), problems);
        Problem(key, "expected a mapping (key: value lines)");
        return null;
    }

    /// <summary>A list of mappings, e.g. cameras; each item gets its indexed path.</summary>
    public IReadOnlyList<ConfigSection> Sections(string key) =>
        Items(key).Select((item, i) => item.Node is YamlMappingNode m
                ? new ConfigSection(m, item.Path, problems)
                : Add<ConfigSection>(item.Path, "expected a mapping (key: value lines)", item.Node))
            .OfType<ConfigSection>().ToList();

    public IReadOnlyList<string>? Strings(string key)
    {
        if (Get(key) is null) return null;
        return Items(key).Select(item => item.Node is YamlScalarNode s
                ? Expand(s, item.Path)
                : Add<string>(item.Path, "expected a text value", item.Node))
            .OfType<string>().ToList();
    }

    /// <summary>A list of [x, y] pairs.</summary>
    public IReadOnlyList<ZonePoint> Points(string key)
    {
        var points = new List<ZonePoint>();
        foreach (var (item, itemPath) in Items(key))
        {
            if (item is YamlSequenceNode { Children.Count: 2 } pair &&
                Coordinate(pair.Children[0]) is { } x && Coordinate(pair.Children[1]) is { } y)
                points.Add(new ZonePoint(x, y));
            else
                Add<object>(itemPath, "expected a point [x, y] of two numbers", item);
        }
        return points;
    }

    /// <summary>Notes keys nobody read: usually a typo of a known one.</summary>
    public void RejectUnknownKeys()
    {
        foreach (var (key, value) in node.Children)
        {
            var name = (key as YamlScalarNode)?.Value ?? "?";
            if (!_read.Contains(name))
                Add<object>(Child(name), "unknown setting (check the spelling; see configs/moedetect.example.yaml)", key);
        }
    }

    public void Problem(string key, string message) => Add<object>(Child(key), message, Get(key));

    private string Child(string key) => Path.Length == 0 ? key : $"{Path}.{key}";

    private YamlNode? Get(string key)
    {
        _read.Add(key);
        return node.Children.TryGetValue(new YamlScalarNode(key), out var value) && !IsNull(value) ? value : null;
    }

    private YamlScalarNode? Scalar(string key)
    {
        var child = Get(key);
        if (child is null or YamlScalarNode) return (YamlScalarNode?)child;
        Problem(key, "expected a single value, not a list or mapping");
        return null;
    }

    private IEnumerable<(YamlNode Node, string Path)> Items(string key)
    {
        var child = Get(key);
        if (child is null) return [];
        if (child is YamlSequenceNode sequence) return sequence.Children.Select((c, i) => (c, $"{Child(key)}[{i}]"));
        Problem(key, "expected a list");
        return [];
    }

    private static double? Coordinate(YamlNode node) =>
        node is YamlScalarNode { Value: { } text } && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : null;

    private static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain, Value: null or "" or "~" or "null" };

    private string? Expand(YamlScalarNode scalar, string valuePath)
    {
        var text = scalar.Value ?? "";
        var missing = new List<string>();
        var expanded = EnvironmentReference().Replace(text, m =>
        {
            var value = Environment.GetEnvironmentVariable(m.Groups["name"].Value);
            if (!string.IsNullOrEmpty(value)) return value;
            if (m.Groups["default"].Success) return m.Groups["default"].Value;
            missing.Add(m.Groups["name"].Value);
            return "";
        });
        foreach (var name in missing)
            Add<object>(valuePath, $"environment variable {name} is not set (set it, or write ${{{name}:-default}})", scalar);
        return missing.Count > 0 ? null : expanded;
    }

    private T? Add<T>(string problemPath, string message, YamlNode? at) where T : class
    {
        problems.Add(new ConfigProblem(problemPath, message, at is null ? null : (int)at.Start.Line));
        return null;
    }

    [GeneratedRegex(@"\$\{(?<name>[A-Za-z_][A-Za-z0-9_]*)(:-(?<default>[^}]*))?\}")]
    private static partial Regex EnvironmentReference();
}
