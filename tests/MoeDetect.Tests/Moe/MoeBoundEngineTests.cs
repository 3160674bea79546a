using System.IO.Compression;
using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;
using MoeDetect.Model.Decoding;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Input;
using MoeDetect.Model.Loading;
using MoeDetect.Model.Moe;
using MoeDetect.Pipeline.Inference;
using MoeDetect.Tests.Support;
using OpenCvSharp;

namespace MoeDetect.Tests.Moe;

/// <summary>The device-resident MoE engine (IOBinding, gather and mix as graphs, 8-bit input), run here on ONNX
/// Runtime's CPU provider with host memory, against the host-tensor engine on the shipped ES-MoE model and real
/// images and video frames: same routes, same GFLOPs, same tensors and detections, on batches whose frames route
/// differently. Also: the segmented export, every expert mixed, equals the model's dense.onnx.</summary>
public sealed class MoeBoundEngineTests
{
    private static readonly string ModelPath = Path.Combine(TestPaths.Models, "esmoe-centernet.moedet");
    private readonly string _folder = TestPaths.NewTempFolder();

    /// <param name="topK">Null: the model's own routing (top-1); 2: two experts mixed per frame and block.</param>
    [SkippableTheory]
    [InlineData(null)]
    [InlineData(2)]
    public void Device_engine_matches_the_host_engine_on_coco_images_with_mixed_routes(int? topK)
    {
        Skip.If(TestPaths.SharedMissing is not null, TestPaths.SharedMissing);
        string model = topK is { } k ? WithTopK(k) : ModelPath;
        var files = Directory.GetFiles(Path.Combine(TestPaths.Coco128, "images"), "*.jpg").Order().Take(8).ToArray();
        var batch = Canvases(model, files.Select(f => Cv2.ImRead(f)).ToArray());

        var routes = AssertSameResults(model, [batch], streams: null);

        Assert.True(routes.Select(Describe).Distinct().Count() > 1, "the batch routed every image alike, so the gather and mix were not exercised");
        if (topK is not null) Assert.Contains(routes, r => r.ExpertsPerBlock.Any(b => b.Length > 1));
    }

    [SkippableFact]
    public void Device_engine_matches_the_host_engine_on_video_frames_with_hysteresis()
    {
        Skip.If(TestPaths.SharedMissing is not null, TestPaths.SharedMissing);
        // Each batch holds one frame of each clip, tagged with its clip: both engines carry the same per-stream
        // hysteresis state from batch to batch.
        string[] clips = ["pedestrians-720p.avi", "car-detection.mp4", "bottle-detection.mp4", "one-by-one-person-detection.mp4"];
        var perClip = clips.Select(clip => Canvases(ModelPath, EveryFifteenthFrame(TestPaths.SharedVideo(clip), count: 3))).ToArray();
        var batches = Enumerable.Range(0, 3).Select(t => perClip.Select(frames => frames[t]).ToArray()).ToArray();

        var routes = AssertSameResults(ModelPath, batches, streams: clips);

        Assert.True(routes.Select(Describe).Distinct().Count() > 1, "every frame of the clips routed alike");
    }

    private static Mat[] EveryFifteenthFrame(string path, int count)
    {
        using var video = new VideoCapture(path);
        var frames = new List<Mat>();
        for (var frame = new Mat(); frames.Count < count && video.Read(frame); frame = new Mat())
            if ((int)video.Get(VideoCaptureProperties.PosFrames) % 15 == 0) frames.Add(frame);
        Assert.Equal(count, frames.Count);
        return [.. frames];
    }

    [SkippableFact]
    public void Segmented_export_with_every_expert_mixed_matches_the_dense_graph()
    {
        Skip.If(TestPaths.SharedMissing is not null, TestPaths.SharedMissing);
        // With all experts kept, the sparse runtime's mix is exactly what dense.onnx computes: softmax-weighted sum.
        string model = WithTopK(4);
        var files = Directory.GetFiles(Path.Combine(TestPaths.Coco128, "images"), "*.jpg").Order().Skip(8).Take(2).ToArray();
        var canvases = Canvases(model, files.Select(f => Cv2.ImRead(f)).ToArray());
        var file = MoeModelFile.Open(model);
        var spec = MoeModelLoader.Input(file);
        var floats = Floats(spec, canvases);

        using var dense = new InferenceSession(file.Graph(file.Manifest.DenseOnnx!));
        using var input = OrtValue.CreateTensorValueFromMemory(floats, [canvases.Length, spec.Height, spec.Width, 3]);
        using var options = new RunOptions();
        using var denseOutputs = dense.Run(options, ["images"], [input], ["detections"]);
        var expected = denseOutputs[0].GetTensorDataAsSpan<float>().ToArray();

        using var host = ModelLoader.Load(model, new EngineRequest());
        using var bound = BoundEngine(model, canvases.Length);
        var fromHost = ((IRoutedEngine)host.Engine).Run(floats, canvases.Length, null);
        var fromDevice = RunBound(bound, canvases, null);

        Assert.All(fromHost.Routes!, r => Assert.All(r.ExpertsPerBlock, b => Assert.True(b.Length >= 3)));
        AssertClose(expected, fromHost.Tensor("detections").Data, "host engine vs dense.onnx");
        AssertClose(expected, fromDevice.Tensor("detections").Data, "device engine vs dense.onnx");
    }

    /// <summary>Runs the batches through both engines in order; returns the routes (after asserting they agree).</summary>
    private static List<FrameRoute> AssertSameResults(string model, byte[][][] batches, string[]? streams)
    {
        using var host = ModelLoader.Load(model, new EngineRequest());
        using var bound = BoundEngine(model, batches.Max(b => b.Length));
        var spec = host.Input;
        var allRoutes = new List<FrameRoute>();
        foreach (var canvases in batches)
        {
            var expected = ((IRoutedEngine)host.Engine).Run(Floats(spec, canvases), canvases.Length, streams);
            var actual = RunBound(bound, canvases, streams);

            Assert.Equal(expected.Routes!.Select(Describe), actual.Routes!.Select(Describe));
            Assert.Equal(expected.Routes!.Select(r => r.Gflops), actual.Routes!.Select(r => r.Gflops));
            foreach (var e in expected.Tensors)
            {
                Assert.Equal(e.Shape, actual.Tensor(e.Name).Shape);
                AssertClose(e.Data, actual.Tensor(e.Name).Data, $"{e.Name}, device vs host engine");
            }
            for (int i = 0; i < canvases.Length; i++)
            {
                var letterbox = LetterboxTransform.Create(spec.Width, spec.Height, spec.Width, spec.Height, spec.CenteredLetterbox);
                var want = host.Decoder.Decode(expected, i, letterbox, new DecodeOptions());
                var got = host.Decoder.Decode(actual, i, letterbox, new DecodeOptions());
                Assert.Equal(want.Count, got.Count);
                Assert.Equal(want.Select(d => d.ClassId), got.Select(d => d.ClassId));
                Assert.All(want.Zip(got), p => Assert.Equal(p.First.Score, p.Second.Score, 1e-4f));
            }
            Assert.True(actual.Timings.RouteMs > 0 && actual.Timings.ExpertsMs > 0);
            allRoutes.AddRange(actual.Routes!);
        }
        return allRoutes;
    }

    private static MoeBoundEngine BoundEngine(string model, int maxBatch)
    {
        var file = MoeModelFile.Open(model);
        return new MoeBoundEngine(file, MoeModelLoader.Input(file), new EngineRequest(), cuda: null, new HostTensorMemory(), maxBatch);
    }

    private static EngineOutput RunBound(MoeBoundEngine engine, byte[][] canvases, string[]? streams)
    {
        for (int i = 0; i < canvases.Length; i++) canvases[i].CopyTo(engine.PixelStaging.Slice(i * canvases[i].Length));
        return engine.RunPixels(canvases.Length, streams);
    }

    private static byte[][] Canvases(string model, Mat[] images)
    {
        using var preprocessor = new FramePreprocessor(ModelLoader.DescribeInput(model));
        return images.Select(image =>
        {
            var canvas = new byte[preprocessor.BytesPerCanvas];
            preprocessor.FillPixels(image, canvas);
            image.Dispose();
            return canvas;
        }).ToArray();
    }

    private static float[] Floats(InputSpec spec, byte[][] canvases)
    {
        int per = spec.ValuesPerImage;
        var floats = new float[canvases.Length * per];
        for (int i = 0; i < canvases.Length; i++) PixelTensor.Write<byte>(spec, canvases[i], floats.AsSpan(i * per, per));
        return floats;
    }

    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = expected.Zip(actual, (x, y) => Math.Abs(x - y)).Max();
        Console.WriteLine($"{what}: max abs diff {worst:g3}");
        Assert.True(worst < 1e-3, $"{what}: differ by up to {worst:g3}");
    }

    private static string Describe(FrameRoute route) => string.Join("|", route.ExpertsPerBlock.Select(b => string.Join(",", b)));

    /// <summary>The shipped model routing each frame to its <paramref name="k"/> most probable experts.</summary>
    private string WithTopK(int k)
    {
        var settings = new JsonObject { ["mode"] = "top-k", ["k"] = k };
        string path = Path.Combine(_folder, $"top-{k}.moedet");
        File.Copy(ModelPath, path);
        using var zip = ZipFile.Open(path, ZipArchiveMode.Update);
        var entry = zip.GetEntry("manifest.json")!;
        JsonNode manifest;
        using (var reader = entry.Open()) manifest = JsonNode.Parse(reader)!;
        manifest["routing"] = settings;
        entry.Delete();
        using var writer = zip.CreateEntry("manifest.json").Open();
        writer.Write(System.Text.Encoding.UTF8.GetBytes(manifest.ToJsonString()));
        return path;
    }
}
