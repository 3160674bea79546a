using System.Text.Json;
using Google.Protobuf;
using MoeDetect.Conversion.Tfjs;
using Onnx;

namespace MoeDetect.Conversion;

/// <summary>What a conversion wrote.</summary>
public sealed record ConversionResult(string OutputPath, string Preset, int TfjsNodes, int OnnxNodes, long Bytes, IReadOnlyList<string> Outputs);

/// <summary>
/// Converts a TensorFlow.js graph model (model.json + .bin shards, float16 weights dequantized) to an ONNX model
/// (opset 17, float32 weights) carrying the metadata the MoeDetect runtime reads.
/// </summary>
public static class TfjsToOnnxConverter
{
    public const int Opset = 17;

    /// <param name="options">Settings; null picks the teacher preset the graph is recognised as, or fails naming the presets.</param>
    public static ConversionResult Convert(string modelJsonPath, TfjsConversionOptions? options, string outputOnnxPath)
    {
        var model = TfjsGraphModel.Load(modelJsonPath);
        options ??= TeacherPresets.Detect(model)
            ?? throw new ModelConversionException(
                $"'{modelJsonPath}' is not one of the known teachers ({string.Join(", ", TeacherPresets.All.Select(p => p.Name))}); give conversion options (outputs, decoder, preprocessing).");
        var onnx = ToOnnx(model, options);
        var dir = Path.GetDirectoryName(Path.GetFullPath(outputOnnxPath))!;
        Directory.CreateDirectory(dir);
        using (var file = File.Create(outputOnnxPath))
            onnx.WriteTo(file);
        return new ConversionResult(outputOnnxPath, options.Name, model.Nodes.Count, onnx.Graph.Node.Count, new FileInfo(outputOnnxPath).Length,
            onnx.Graph.Output.Select(o => o.Name).ToList());
    }

    public static ModelProto ToOnnx(TfjsGraphModel model, TfjsConversionOptions options)
    {
        var outputs = options.Outputs.Count > 0
            ? options.Outputs
            : model.SignatureOutputs.Select(s => new OutputBinding(s.Reference, s.Reference)).ToList();
        if (outputs.Count == 0)
            throw new ModelConversionException($"'{model.Path}' declares no signature outputs; name the outputs to convert in the options.");
        var graph = GraphTranslation.Translate(model, options.InputName, outputs);
        var onnx = new ModelProto
        {
            IrVersion = 8,
            ProducerName = "MoeDetect.Conversion",
            ProducerVersion = typeof(TfjsToOnnxConverter).Assembly.GetName().Version?.ToString() ?? "",
            Graph = graph,
        };
        onnx.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        foreach (var (key, value) in Metadata(model, options, graph))
            onnx.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return onnx;
    }

    private static IEnumerable<(string Key, string Value)> Metadata(TfjsGraphModel model, TfjsConversionOptions options, GraphProto graph)
    {
        yield return ("names", NamesMetadata.ToPythonDict(options.ClassNames));
        yield return ("moedetect.source", options.Source ?? Provenance(model));
        if (options.Preprocess is { } pre)
        {
            var dims = graph.Input[0].Type.TensorType.Shape.Dim.Select(d => d.DimValue).ToArray();
            var (h, w) = pre.Layout == "NCHW" ? (dims[2], dims[3]) : (dims[1], dims[2]);
            yield return ("imgsz", $"[{h}, {w}]");
            yield return ("moedetect.preprocess", pre.ToJson());
        }
        if (options.Decoder is { } decoder)
            yield return ("moedetect.decoder", decoder);
        foreach (var (key, value) in options.Metadata)
            yield return (key, value);
    }

    /// <summary>"package@version models/x.json, licence L, origin U" from the npm package.json above the model, when there is one.</summary>
    private static string Provenance(TfjsGraphModel model)
    {
        var origin = model.GeneratedBy is { } g ? $", origin {g}" : "";
        var modelDir = Path.GetDirectoryName(Path.GetFullPath(model.Path))!;
        foreach (var dir in new[] { modelDir, Path.GetDirectoryName(modelDir) })
        {
            var packageJson = dir is null ? null : Path.Combine(dir, "package.json");
            if (packageJson is null || !File.Exists(packageJson))
                continue;
            using var doc = JsonDocument.Parse(File.ReadAllText(packageJson));
            var p = doc.RootElement;
            string? Field(string key) => p.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            var relative = Path.GetRelativePath(dir!, model.Path).Replace('\\', '/');
            return $"{Field("name")}@{Field("version")} {relative}, licence {Field("license") ?? "unknown"}{origin}";
        }
        return $"{Path.GetFileName(model.Path)}{origin}";
    }
}
