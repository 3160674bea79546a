using System.Text;
using System.Text.Json;

namespace MoeDetect.Conversion.Tfjs;

/// <summary>One node of a TFJS graph model: op type, data inputs ("node" or "node:k") and its TensorFlow attributes.</summary>
public sealed class TfjsNode(string name, string op, IReadOnlyList<string> inputs, IReadOnlyDictionary<string, JsonElement> attributes)
{
    public string Name { get; } = name;
    public string Op { get; } = op;
    public IReadOnlyList<string> Inputs { get; } = inputs;

    public long Int(string key, long fallback) =>
        attributes.TryGetValue(key, out var a) && a.TryGetProperty("i", out var i) ? ParseLong(i) : fallback;

    public float Float(string key, float fallback) =>
        attributes.TryGetValue(key, out var a) && a.TryGetProperty("f", out var f) ? f.GetSingle() : fallback;

    public bool Bool(string key, bool fallback) =>
        attributes.TryGetValue(key, out var a) && a.TryGetProperty("b", out var b) ? b.GetBoolean() : fallback;

    /// <summary>A string attribute; TFJS stores them base64-encoded.</summary>
    public string? String(string key) =>
        attributes.TryGetValue(key, out var a) && a.TryGetProperty("s", out var s) ? Decode(s) : null;

    /// <summary>A DT_* type attribute such as "DT_FLOAT", or null.</summary>
    public string? Type(string key) =>
        attributes.TryGetValue(key, out var a) && a.TryGetProperty("type", out var t) ? t.GetString() : null;

    public long[] Ints(string key) =>
        ListOf(key, "i").Select(ParseLong).ToArray();

    public string[] Strings(string key) =>
        ListOf(key, "s").Select(Decode).ToArray();

    /// <summary>The dims of a "shape" attribute (a Placeholder's); -1 for unknown.</summary>
    public long[] Shape(string key)
    {
        if (!attributes.TryGetValue(key, out var a) || !a.TryGetProperty("shape", out var shape)
            || !shape.TryGetProperty("dim", out var dims))
            return [];
        return dims.EnumerateArray().Select(d => d.TryGetProperty("size", out var s) ? ParseLong(s) : -1).ToArray();
    }

    public override string ToString() => $"{Op} node '{Name}'";

    private IEnumerable<JsonElement> ListOf(string key, string kind) =>
        attributes.TryGetValue(key, out var a) && a.TryGetProperty("list", out var list) && list.TryGetProperty(kind, out var items)
            ? items.EnumerateArray()
            : [];

    // int64 attributes are JSON strings in TFJS files, but hand-written graphs may use numbers.
    private static long ParseLong(JsonElement e) => e.ValueKind == JsonValueKind.String ? long.Parse(e.GetString()!) : e.GetInt64();

    private static string Decode(JsonElement s) => Encoding.UTF8.GetString(Convert.FromBase64String(s.GetString() ?? ""));
}
