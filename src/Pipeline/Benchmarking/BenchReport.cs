using System.Text.Json;
using System.Text.Json.Serialization;

namespace MoeDetect.Pipeline.Benchmarking;

/// <summary>A benchmark run as written to <c>--json</c>: where it ran, on what, and one entry per variant × batch
/// with the per-frame stage milliseconds keyed by the stage names every entry point uses.</summary>
public sealed record BenchReport(
    [property: JsonPropertyName("device")] string Device,
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("frames")] string Frames,
    [property: JsonPropertyName("results")] IReadOnlyList<BenchResult> Results)
{
    private static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Options);

    public void Save(string path) => Sinks.AtomicFile.WriteAllText(path, ToJson());
}
