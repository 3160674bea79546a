using System.Text.Json;
using System.Text.Json.Serialization;

namespace MoeDetect.Conversion;

/// <summary>A TF output tensor ("Identity_3", "tower_0/wh", "node:1") and the name it gets in the ONNX model.</summary>
public sealed record OutputBinding(string TfName, string OnnxName);

/// <summary>
/// How an image becomes the model input, written to <c>moedetect.preprocess</c>: value = (pixel − mean) / std per channel
/// in <see cref="Order"/>, letterboxed with <see cref="Pad"/> (raw pixel values) as the border, resampled by
/// <see cref="Resize"/> (opencv-bilinear on 8-bit pixels, or float-bilinear).
/// </summary>
public sealed record PreprocessSpec(
    [property: JsonPropertyName("layout")] string Layout,
    [property: JsonPropertyName("order")] string Order,
    [property: JsonPropertyName("mean")] double[] Mean,
    [property: JsonPropertyName("std")] double[] Std,
    [property: JsonPropertyName("pad")] double[] Pad,
    [property: JsonPropertyName("letterbox")] string Letterbox,
    [property: JsonPropertyName("resize")] string Resize = "opencv-bilinear")
{
    public string ToJson() => JsonSerializer.Serialize(this);
}

/// <summary>What to convert and which metadata to write; <see cref="TeacherPresets"/> holds the settings of the known teachers.</summary>
public sealed record TfjsConversionOptions
{
    /// <summary>Preset name, for reports.</summary>
    public string Name { get; init; } = "custom";

    /// <summary>Name of the ONNX input that replaces the graph's Placeholder.</summary>
    public string InputName { get; init; } = "images";

    /// <summary>Outputs to keep, in order; empty keeps every signature output under its TF name.</summary>
    public IReadOnlyList<OutputBinding> Outputs { get; init; } = [];

    /// <summary>Written as <c>moedetect.decoder</c> (e.g. "centernet", "nanodet-gfl"); null writes no detector metadata.</summary>
    public string? Decoder { get; init; }

    /// <summary>Written as <c>moedetect.preprocess</c>; its layout also decides which input dims make <c>imgsz</c>.</summary>
    public PreprocessSpec? Preprocess { get; init; }

    public IReadOnlyList<string> ClassNames { get; init; } = NamesMetadata.Coco80;

    /// <summary>Further metadata_props entries (e.g. <c>moedetect.strides</c>).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();

    /// <summary>Provenance for <c>moedetect.source</c>; null derives it from the npm package.json beside the model, if any.</summary>
    public string? Source { get; init; }
}
