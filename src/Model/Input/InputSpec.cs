using System.Text.Json;
using System.Text.Json.Serialization;

namespace MoeDetect.Model.Input;

public enum TensorLayout { Nchw, Nhwc }
public enum ChannelOrder { Rgb, Bgr }

/// <summary>How pixels are resampled into the letterbox; models are most accurate when fed the way they were
/// trained and measured. Both are bilinear with half-pixel centres: <see cref="OpenCvBilinear"/> on 8-bit pixels
/// (OpenCV's fixed-point path, as Ultralytics trains), <see cref="FloatBilinear"/> on float pixels (TensorFlow's
/// resize with half-pixel centres; the CenterNet teacher's reference accuracy was measured with float resizing).</summary>
public enum ResizeMethod { OpenCvBilinear, FloatBilinear }

/// <summary>How a model wants its pixels: size, tensor layout, channel order and per-channel normalisation
/// value = (pixel − mean) / std, with letterbox padding of the given raw pixel value.</summary>
public sealed record InputSpec(
    string TensorName, int Width, int Height, TensorLayout Layout, ChannelOrder Order,
    float[] Mean, float[] Std, float[] Pad, bool CenteredLetterbox, ResizeMethod Resize = ResizeMethod.OpenCvBilinear)
{
    public int ValuesPerImage => 3 * Width * Height;

    /// <summary>Ultralytics YOLO exports: NCHW RGB scaled to 0–1, letterboxed on grey 114.</summary>
    public static InputSpec Ultralytics(string tensorName, int width, int height) => new(
        tensorName, width, height, TensorLayout.Nchw, ChannelOrder.Rgb,
        [0, 0, 0], [255, 255, 255], [114, 114, 114], CenteredLetterbox: true);

    /// <summary>Reads the JSON form stored in model metadata (<c>moedetect.preprocess</c>) and model manifests.</summary>
    public static InputSpec FromJson(string json, string tensorName, int width, int height)
    {
        var dto = JsonSerializer.Deserialize<PreprocessDto>(json)
                  ?? throw new InvalidDataException("preprocessing description is empty");
        return new InputSpec(tensorName, width, height,
            ParseEnum<TensorLayout>(dto.Layout ?? "NCHW", "layout"),
            ParseEnum<ChannelOrder>(dto.Order ?? "RGB", "order"),
            Triple(dto.Mean, 0, "mean"), Triple(dto.Std, 1, "std"), Triple(dto.Pad, 0, "pad"),
            !string.Equals(dto.Letterbox, "top-left", StringComparison.OrdinalIgnoreCase),
            dto.Resize switch
            {
                null or "opencv-bilinear" => ResizeMethod.OpenCvBilinear,
                "float-bilinear" => ResizeMethod.FloatBilinear,
                _ => throw new InvalidDataException($"preprocessing field 'resize' has unknown value '{dto.Resize}'"),
            });
    }

    private static T ParseEnum<T>(string text, string field) where T : struct, Enum =>
        Enum.TryParse<T>(text, ignoreCase: true, out var value)
            ? value
            : throw new InvalidDataException($"preprocessing field '{field}' has unknown value '{text}'");

    private static float[] Triple(float[]? values, float fallback, string field) => values switch
    {
        null => [fallback, fallback, fallback],
        { Length: 3 } => values,
        _ => throw new InvalidDataException($"preprocessing field '{field}' must have 3 values, got {values.Length}"),
    };

    private sealed record PreprocessDto(
        [property: JsonPropertyName("layout")] string? Layout,
        [property: JsonPropertyName("order")] string? Order,
        [property: JsonPropertyName("mean")] float[]? Mean,
        [property: JsonPropertyName("std")] float[]? Std,
        [property: JsonPropertyName("pad")] float[]? Pad,
        [property: JsonPropertyName("letterbox")] string? Letterbox,
        [property: JsonPropertyName("resize")] string? Resize);
}
