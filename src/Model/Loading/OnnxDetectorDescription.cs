using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using MoeDetect.Model.Decoding;
using MoeDetect.Model.Input;

namespace MoeDetect.Model.Loading;

/// <summary>Works out, from an ONNX session's inputs, outputs and metadata, which detector convention a graph
/// follows: MoeDetect-converted graphs say so in metadata (<c>moedetect.decoder</c>, <c>moedetect.preprocess</c>);
/// Ultralytics exports are recognised by their output shape and carry their class names in <c>names</c>.</summary>
public static class OnnxDetectorDescription
{
    public const string DecoderKey = "moedetect.decoder";
    public const string PreprocessKey = "moedetect.preprocess";

    public static (InputSpec Input, IReadOnlyList<string> ClassNames, IDetectionDecoder Decoder) Describe(InferenceSession session, string label)
    {
        var metadata = session.ModelMetadata.CustomMetadataMap;
        if (session.InputMetadata.Count != 1)
            throw new InvalidModelException($"'{label}' has {session.InputMetadata.Count} inputs; a detector takes one image tensor");
        var (inputName, inputMeta) = session.InputMetadata.Single();
        int[] dims = inputMeta.Dimensions;
        if (dims.Length != 4)
            throw new InvalidModelException($"'{label}' input '{inputName}' has shape [{string.Join(",", dims)}]; expected a 4-D image tensor");

        var decoderKind = metadata.GetValueOrDefault(DecoderKey);
        bool nhwc = dims[3] == 3 && dims[1] != 3;
        var (width, height) = InputSize(dims, nhwc, metadata.GetValueOrDefault("imgsz"));
        var input = metadata.TryGetValue(PreprocessKey, out var preprocess)
            ? InputSpec.FromJson(preprocess, inputName, width, height)
            : InputSpec.Ultralytics(inputName, width, height);

        var outputs = session.OutputMetadata.ToDictionary(o => o.Key, o => o.Value.Dimensions);
        var names = ClassNames.Parse(metadata.GetValueOrDefault("names"));
        var decoder = decoderKind switch
        {
            CenterNetDecoder.KindName => new CenterNetDecoder(names ?? [], RequireOutput(outputs, "detections", label)),
            NanoDetGflDecoder.KindName => NanoDet(metadata, names ?? [], width, height, outputs, label),
            YoloV8Decoder.KindName or YoloV5Decoder.KindName or null => DetectYolo(outputs, names, decoderKind, label, out names),
            _ => throw new InvalidModelException($"'{label}' names unknown decoder '{decoderKind}' in its metadata"),
        };
        return (input, names ?? [], decoder);
    }

    /// <summary>A different input size is possible only where the graph's spatial dimensions are dynamic.</summary>
    public static InputSpec Resize(InferenceSession session, InputSpec input, int size, string label)
    {
        if (size <= 0 || size % 32 != 0)
            throw new MoeDetectException($"input size {size} is invalid: use a positive multiple of 32 (e.g. 320, 416, 640)");
        int[] dims = session.InputMetadata[input.TensorName].Dimensions;
        bool fixedSize = input.Layout == TensorLayout.Nhwc ? dims[1] > 0 || dims[2] > 0 : dims[2] > 0 || dims[3] > 0;
        if (fixedSize)
            throw new MoeDetectException($"'{label}' has a fixed input of {input.Width}x{input.Height}; --imgsz {size} is not possible with it");
        return input with { Width = size, Height = size };
    }

    private static (int Width, int Height) InputSize(int[] dims, bool nhwc, string? imgsz)
    {
        int h = nhwc ? dims[1] : dims[2], w = nhwc ? dims[2] : dims[3];
        if (h > 0 && w > 0) return (w, h);
        var size = imgsz is null ? null : JsonSerializer.Deserialize<int[]>(imgsz);
        return size is { Length: 2 } ? (size[1], size[0]) : (640, 640);
    }

    private static string RequireOutput(Dictionary<string, int[]> outputs, string name, string label) =>
        outputs.ContainsKey(name) ? name
            : throw new InvalidModelException($"'{label}' has no output '{name}' (outputs: {string.Join(", ", outputs.Keys)})");

    private static IDetectionDecoder NanoDet(IReadOnlyDictionary<string, string> metadata, IReadOnlyList<string> names,
        int width, int height, Dictionary<string, int[]> outputs, string label)
    {
        var strides = JsonSerializer.Deserialize<int[]>(metadata.GetValueOrDefault("moedetect.strides") ?? "[8, 16, 32]")!;
        int regMax = int.Parse(metadata.GetValueOrDefault("moedetect.reg_max") ?? "7");
        var decoder = new NanoDetGflDecoder(names, strides, regMax, width, height);
        foreach (var name in decoder.OutputNames) RequireOutput(outputs, name, label);
        return decoder;
    }

    /// <summary>Ultralytics YOLOv8/11 output [1, 4+nc, A] vs YOLOv5 [1, A, 5+nc]: the class count from the names
    /// decides when present; otherwise the anchors axis is the longer one.</summary>
    private static IDetectionDecoder DetectYolo(Dictionary<string, int[]> outputs, IReadOnlyList<string>? names,
        string? declared, string label, out IReadOnlyList<string>? resolvedNames)
    {
        var candidates = outputs.Where(o => o.Value.Length == 3).ToList();
        if (candidates.Count != 1)
            throw new InvalidModelException($"'{label}' has outputs {Describe(outputs)}; supported are Ultralytics YOLOv8/YOLO11 " +
                "[1, 4+classes, anchors], YOLOv5 [1, anchors, 5+classes], or MoeDetect-converted models");
        var (name, shape) = candidates[0];
        int a = shape[1], b = shape[2];
        bool v8 = declared switch
        {
            YoloV8Decoder.KindName => true,
            YoloV5Decoder.KindName => false,
            _ when names is not null && a == 4 + names.Count => true,
            _ when names is not null && b == 5 + names.Count => false,
            _ => a > 0 && b > 0 ? a < b : throw new InvalidModelException($"'{label}' output {name} has a dynamic shape; cannot tell its layout"),
        };
        int classes = v8 ? a - 4 : b - 5;
        if (classes < 1)
            throw new InvalidModelException($"'{label}' output {name} [{string.Join(",", shape)}] leaves no room for class scores");
        resolvedNames = names is not null && names.Count == classes
            ? names
            : Enumerable.Range(0, classes).Select(i => names is not null && i < names.Count ? names[i] : $"class{i}").ToArray();
        return v8 ? new YoloV8Decoder(resolvedNames, name) : new YoloV5Decoder(resolvedNames, name);
    }

    private static string Describe(Dictionary<string, int[]> outputs) =>
        string.Join(", ", outputs.Select(o => $"{o.Key}[{string.Join(",", o.Value)}]"));
}
