using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace MoeDetect.Model.Moe;

/// <summary>The <c>manifest.json</c> of a <c>.moedet</c> model file (docs/model-format.md).</summary>
public sealed record MoeManifest
{
    public const string FormatName = "moedetect-model";
    public const int SupportedVersion = 1;

    [JsonPropertyName("format")] public string? Format { get; init; }
    [JsonPropertyName("version")] public int Version { get; init; }
    [JsonPropertyName("name")] public string? Name { get; init; }
    [JsonPropertyName("classes")] public string[]? Classes { get; init; }
    [JsonPropertyName("input")] public JsonObject? Input { get; init; }
    [JsonPropertyName("decoder")] public string? Decoder { get; init; }
    [JsonPropertyName("decoder_outputs")] public string[]? DecoderOutputs { get; init; }
    [JsonPropertyName("routing")] public RoutingSettings Routing { get; init; } = new();
    [JsonPropertyName("steps")] public ManifestStep[]? Steps { get; init; }
    [JsonPropertyName("dense_onnx")] public string? DenseOnnx { get; init; }

    public static MoeManifest Parse(string json) =>
        JsonSerializer.Deserialize<MoeManifest>(json) ?? throw new InvalidDataException("manifest.json is empty");
}

/// <summary>How the routers' probabilities become expert choices (see <see cref="ExpertSelector"/>).</summary>
public sealed record RoutingSettings
{
    [JsonPropertyName("mode")] public string Mode { get; init; } = "top-k";
    [JsonPropertyName("k")] public int K { get; init; } = 1;
    [JsonPropertyName("p")] public double P { get; init; } = 0.6;
    [JsonPropertyName("temperature")] public double Temperature { get; init; } = 1.0;
    [JsonPropertyName("min_weight")] public double MinWeight { get; init; }
    [JsonPropertyName("video_hysteresis")] public double VideoHysteresis { get; init; }
}

public sealed record ManifestStep
{
    [JsonPropertyName("kind")] public string? Kind { get; init; }
    [JsonPropertyName("name")] public string? Name { get; init; }
    [JsonPropertyName("onnx")] public string? Onnx { get; init; }
    [JsonPropertyName("inputs")] public string[]? Inputs { get; init; }
    [JsonPropertyName("outputs")] public string[]? Outputs { get; init; }
    [JsonPropertyName("gflops")] public double Gflops { get; init; }
    [JsonPropertyName("input")] public string? Input { get; init; }
    [JsonPropertyName("output")] public string? Output { get; init; }
    [JsonPropertyName("router")] public ManifestGraph? Router { get; init; }
    [JsonPropertyName("experts")] public ManifestGraph[]? Experts { get; init; }
}

public sealed record ManifestGraph
{
    [JsonPropertyName("name")] public string? Name { get; init; }
    [JsonPropertyName("onnx")] public string? Onnx { get; init; }
    [JsonPropertyName("gflops")] public double Gflops { get; init; }
}
