using OpenCvSharp;
using MoeDetect.Model.Decoding;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Input;
using MoeDetect.Model.Loading;
using MoeDetect.Pipeline.Frames;
using MoeDetect.Pipeline.Inference;
using MoeDetect.Pipeline.Timing;
using MoeDetect.Tests.Support;

namespace MoeDetect.Tests.Pipeline;

public class FrameDetectorTests
{
    private readonly string _folder = TestPaths.NewTempFolder();

    [Fact]
    public void Network_boxes_come_back_in_source_pixels_filtered_and_suppressed()
    {
        // Network input 64×64; source 128×64 → scale 0.5, resized 64×32, pasted at dy = 16.
        var output = TinyDetectorGraphs.YoloV8Output(3, 10,
            (32, 32, 20, 10, Class: 1, Score: 0.9f),     // → source x 44..84, y 22..42
            (33, 32, 20, 10, Class: 1, Score: 0.8f),     // same object, suppressed by NMS
            (10, 20, 4, 4, Class: 2, Score: 0.1f));      // below the confidence threshold
        var path = TinyDetectorGraphs.Write(_folder, "v8.onnx", [1, 3, 64, 64], "output0", output, [1, 7, 10],
            new Dictionary<string, string> { ["names"] = "{0: 'cat', 1: 'dog', 2: 'bird'}" });
        using var model = ModelLoader.Load(path, new EngineRequest(Threads: 1));
        using var detector = new FrameDetector(model, new DecodeOptions(Confidence: 0.25f, Iou: 0.5f));
        using var frame = new Frame(new Mat(64, 128, MatType.CV_8UC3, Scalar.All(50)), "test", 7, 280);
        var stats = new StageStatistics();

        var result = Assert.Single(detector.Detect([frame], stats));

        var d = Assert.Single(result.Detections);
        Assert.Equal((1, "dog", 0.9f), (d.ClassId, d.Label, d.Score));
        Assert.Equal(44, d.Box.X1, 3);
        Assert.Equal(22, d.Box.Y1, 3);
        Assert.Equal(84, d.Box.X2, 3);
        Assert.Equal(42, d.Box.Y2, 3);
        Assert.Equal(("test", 7L, 280.0, 128, 64), (result.Source, result.FrameIndex, result.TimestampMs, result.Width, result.Height));
        Assert.Null(result.Route);
        Assert.Equal([Stages.Preprocess, Stages.Upload, Stages.Inference, Stages.Download, Stages.Postprocess],
            stats.Summarise().Select(s => s.Stage));
    }

    [SkippableFact]
    public void A_batch_letterboxed_and_decoded_in_parallel_gives_each_frame_its_own_detections()
    {
        Skip.If(TestPaths.SharedMissing is not null, TestPaths.SharedMissing);
        // Photos of different sizes, so a frame given another's letterbox or canvas shows in its boxes.
        var photos = Directory.GetFiles(Path.Combine(TestPaths.Coco128, "images"), "*.jpg").Order().Take(6)
            .Select((file, i) => new Frame(Cv2.ImRead(file), "coco", i, 0)).ToList();
        using var model = ModelLoader.Load(Path.Combine(TestPaths.Models, "nanodet-g.onnx"), new EngineRequest(Threads: 2));
        using var detector = new FrameDetector(model, new DecodeOptions());

        var together = detector.Detect(photos, new StageStatistics());
        var alone = photos.Select(p => Assert.Single(detector.Detect([p], new StageStatistics()))).ToList();

        Assert.True(together.Sum(r => r.Detections.Count) >= 6, "NanoDet should find objects in six COCO photos");
        for (int i = 0; i < photos.Count; i++)
        {
            Assert.Equal(alone[i].Width, together[i].Width);
            Assert.Equal(alone[i].Detections.Select(d => (d.ClassId, d.Box)), together[i].Detections.Select(d => (d.ClassId, d.Box)),
                (a, b) => a.ClassId == b.ClassId && Math.Abs(a.Box.X1 - b.Box.X1) < 1e-2f && Math.Abs(a.Box.Y2 - b.Box.Y2) < 1e-2f);
        }
        foreach (var p in photos) p.Dispose();
    }

    [Fact]
    public void Class_filter_keeps_only_the_requested_classes()
    {
        var output = TinyDetectorGraphs.YoloV8Output(3, 8, (10, 10, 4, 4, 0, 0.9f), (40, 40, 4, 4, 2, 0.9f));
        var path = TinyDetectorGraphs.Write(_folder, "v8c.onnx", [1, 3, 64, 64], "output0", output, [1, 7, 8]);
        using var model = ModelLoader.Load(path, new EngineRequest(Threads: 1));
        using var detector = new FrameDetector(model, new DecodeOptions(Classes: new HashSet<int> { 2 }));
        using var frame = new Frame(new Mat(64, 64, MatType.CV_8UC3, Scalar.All(0)), "t", 0, 0);
        var d = Assert.Single(Assert.Single(detector.Detect([frame], new StageStatistics())).Detections);
        Assert.Equal(2, d.ClassId);
    }

    [Fact]
    public void Preprocessing_letterboxes_normalises_and_lays_out_channels()
    {
        // A pure blue BGR frame (255, 0, 0) 4×2 into an 4×4 NCHW RGB input scaled by 1/255, grey 114 padding.
        var spec = InputSpec.Ultralytics("images", 4, 4);
        using var preprocessor = new FramePreprocessor(spec);
        using var blue = new Mat(2, 4, MatType.CV_8UC3, new Scalar(255, 0, 0));
        var tensor = new float[spec.ValuesPerImage];
        var letterbox = preprocessor.Fill(blue, tensor);

        Assert.Equal((0, 1), (letterbox.OffsetX, letterbox.OffsetY));
        float pad = 114f / 255;
        // Row 0 and row 3 are padding; rows 1–2 are the image. Planes: R, G, B.
        Assert.All(tensor[0..4], v => Assert.Equal(pad, v, 6));    // R plane, row 0
        Assert.All(tensor[4..8], v => Assert.Equal(0f, v));        // R plane, row 1 (blue has no red)
        Assert.All(tensor[36..40], v => Assert.Equal(1f, v, 6));   // B plane, row 1
        Assert.All(tensor[44..48], v => Assert.Equal(pad, v, 6));  // B plane, row 3
    }

    [Fact]
    public void Nhwc_bgr_mean_std_normalisation_is_applied_per_channel()
    {
        var spec = new InputSpec("x", 2, 2, TensorLayout.Nhwc, ChannelOrder.Bgr, [10, 20, 30], [2, 4, 5], [0, 0, 0], true);
        using var preprocessor = new FramePreprocessor(spec);
        using var image = new Mat(2, 2, MatType.CV_8UC3, new Scalar(50, 60, 80));   // B, G, R
        var tensor = new float[spec.ValuesPerImage];
        preprocessor.Fill(image, tensor);
        Assert.Equal([(50 - 10) / 2f, (60 - 20) / 4f, (80 - 30) / 5f], tensor[0..3]);
    }
}
