using MoeDetect.Model.Decoding;
using MoeDetect.Model.Detections;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Ilgpu;
using MoeDetect.Model.Input;
using MoeDetect.Model.Loading;
using MoeDetect.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Model;

/// <summary>The candidate graph (top anchors chosen on the device, only their rows downloaded) against decoding the
/// whole dense output, both on ONNX Runtime's CPU provider, and on the ILGPU engine's CPU accelerator.</summary>
public sealed class CandidateGraphTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _folder = TestPaths.NewTempFolder();

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [SkippableFact]
    public void NanoDet_candidates_decode_to_the_same_detections_as_the_whole_output_on_real_images()
    {
        using var nanoDet = NanoDetWithCandidates();
        var (path, dense, graph, decoder) = nanoDet;
        Assert.Equal([NanoDetGflDecoder.CandidateScores, NanoDetGflDecoder.CandidateBoxes, NanoDetGflDecoder.CandidateCells], decoder.OutputNames);
        using var candidates = new OrtEngine(OrtSessionFactory.Create(graph, path, threads: 2, cuda: null), "candidates", decoder.OutputNames);
        var (floats, letterboxes) = CocoInput(dense.Input, images: 4);

        var whole = dense.Engine.Run(floats, letterboxes.Length);
        var chosen = candidates.Run(floats, letterboxes.Length);

        Assert.Equal([4, CandidateGraph.MaxCandidates, 80], chosen.Tensor(NanoDetGflDecoder.CandidateScores).Shape);
        Assert.Equal([4, CandidateGraph.MaxCandidates, 44], chosen.Tensor(NanoDetGflDecoder.CandidateBoxes).Shape);
        long wholeValues = whole.Tensors.Sum(t => (long)t.Data.Length), chosenValues = chosen.Tensors.Sum(t => (long)t.Data.Length);
        log.WriteLine($"values per batch of 4: whole output {wholeValues:N0}, candidates {chosenValues:N0}");
        var found = dense.Decoder.Decode(whole, 0, letterboxes[0], new DecodeOptions()).Select(d => d.ClassId).ToHashSet();
        // 0.05 lets through far more boxes than the default 0.25; a class filter must not change which cells are chosen.
        foreach (var options in new[] { new DecodeOptions(), new DecodeOptions(Confidence: 0.05f), new DecodeOptions(Classes: found.Take(1).ToHashSet()) })
        {
            int agreed = AssertSameDetections(dense.Decoder, whole, decoder, chosen, letterboxes, options);
            log.WriteLine($"conf {options.Confidence}, classes {(options.Classes is null ? "all" : string.Join(",", options.Classes))}: {agreed} detections agree");
            Assert.True(agreed >= 1, $"NanoDet should find objects in 4 COCO images, found {agreed}");
        }
    }

    [SkippableFact]
    public void NanoDet_candidates_run_in_the_pixel_graph_fixed_at_a_batch_of_8()
    {
        // The GPU engines run the candidate graph with the 8-bit canvas input and the batch fixed (for CUDA graphs);
        // here the same bound engine on ONNX Runtime's CPU provider with host memory.
        using var nanoDet = NanoDetWithCandidates();
        var (path, dense, graph, decoder) = nanoDet;
        const int batch = 8;
        using var bound = ModelLoader.CreateBound(graph, path, new EngineRequest(Threads: 2, Batch: batch), dense.Input, decoder.OutputNames,
            cuda: null, new HostTensorMemory());
        var (canvases, _) = CocoImages.Canvases(dense.Input, batch);
        for (int i = 0; i < batch; i++) canvases[i].CopyTo(bound.PixelStaging[(i * canvases[i].Length)..]);
        var (floats, letterboxes) = CocoInput(dense.Input, images: batch);

        int agreed = AssertSameDetections(dense.Decoder, dense.Engine.Run(floats, batch), decoder, bound.RunPixels(batch), letterboxes, new DecodeOptions());

        Assert.True(agreed >= batch, $"NanoDet should find objects in {batch} COCO images, found {agreed}");
    }

    [Theory]
    [InlineData("yolov8")]
    [InlineData("yolov5")]
    public void YOLO_candidates_decode_to_the_same_detections_as_the_whole_output(string kind)
    {
        // 8,400 anchors × 80 classes as a YOLOv8n export at 640 gives; about 1 anchor in 36 scores above 0.25.
        const int anchors = 8400, classes = 80;
        var random = new Random(5);
        var boxes = Enumerable.Range(0, anchors).Select(_ => (random.Next(20, 620), random.Next(20, 620), random.Next(8, 120), random.Next(8, 120))).ToArray();
        var scores = Enumerable.Range(0, anchors * classes).Select(_ => (float)Math.Pow(random.NextDouble(), 4000)).ToArray();
        string path = WriteYolo(kind, anchors, classes, boxes, scores);

        int agreed = AssertSameDetectionsOnBothGraphs(path, [new DecodeOptions(), new DecodeOptions(Classes: new HashSet<int> { 3, 7 })]);

        Assert.True(agreed > 50, $"the sparse scores should give many detections, got {agreed}");
    }

    [Fact]
    public void Where_more_anchors_pass_than_are_chosen_the_best_ones_are_kept()
    {
        // Every anchor passes; small boxes spread so that NMS keeps them: the 100 kept are the 100 best scores.
        const int anchors = 4000, classes = 3;
        var random = new Random(9);
        var boxes = Enumerable.Range(0, anchors).Select(a => (8 + a % 64 * 10, 8 + a / 64 * 10, 4, 4)).ToArray();
        var scores = Enumerable.Range(0, anchors * classes).Select(_ => 0.3f + 0.7f * (float)random.NextDouble()).ToArray();
        string path = WriteYolo("yolov8", anchors, classes, boxes, scores);

        int agreed = AssertSameDetectionsOnBothGraphs(path, [new DecodeOptions(MaxDetections: 100)]);

        Assert.Equal(100, agreed);
    }

    [Fact]
    public void Candidates_tied_on_score_are_suppressed_in_anchor_order_as_in_the_whole_output()
    {
        // Triples of boxes 1 px apart (IoU 0.78) with one score per triple: NMS keeps each triple's first anchor in the
        // whole output. The device chooses candidates in no particular order, so the host must put them back in it.
        const int anchors = 3000, classes = 2, scored = 300;
        var boxes = Enumerable.Range(0, anchors).Select(a => (10 + a / 3 % 50 * 12 + a % 3, 10 + a / 3 / 50 * 12, 8, 8)).ToArray();
        var scores = Enumerable.Range(0, anchors * classes)
            .Select(i => i % classes == 0 && i / classes / 3 < scored ? 0.3f + 0.002f * (i / classes / 3) : 0f).ToArray();
        string path = WriteYolo("yolov8", anchors, classes, boxes, scores);

        int agreed = AssertSameDetectionsOnBothGraphs(path, [new DecodeOptions(MaxDetections: scored)]);

        Assert.Equal(scored, agreed);
    }

    [SkippableFact]
    [Trait("Category", "Slow")]
    public void The_ILGPU_engine_runs_the_NanoDet_candidate_graph_to_the_same_detections()
    {
        using var nanoDet = NanoDetWithCandidates();
        var (path, dense, graph, decoder) = nanoDet;
        using var device = IlgpuEngine.Load(graph, path, IlgpuTarget.CpuAccelerator, outputNames: decoder.OutputNames);
        var (floats, letterboxes) = CocoInput(dense.Input, images: 1);

        int agreed = AssertSameDetections(dense.Decoder, dense.Engine.Run(floats, 1), decoder, device.Run(floats, 1), letterboxes, new DecodeOptions());

        Assert.True(agreed >= 1, $"NanoDet should find objects in a COCO image, found {agreed}");
    }

    /// <summary>NanoDet on ONNX Runtime's CPU provider, with its candidate graph and that graph's decoder.</summary>
    private sealed record NanoDetCandidates(string Path, DetectorModel Dense, byte[] Graph, IDetectionDecoder Decoder) : IDisposable
    {
        public void Dispose() => Dense.Dispose();
    }

    private static NanoDetCandidates NanoDetWithCandidates()
    {
        Skip.If(TestPaths.SharedMissing is not null, TestPaths.SharedMissing);
        string path = Path.Combine(TestPaths.Models, "nanodet-g.onnx");
        var dense = ModelLoader.Load(path, new EngineRequest(Threads: 2));
        var (graph, decoder) = CandidateGraph.Rewrite(File.ReadAllBytes(path), dense.Decoder);
        return new NanoDetCandidates(path, dense, graph, decoder);
    }

    private int AssertSameDetectionsOnBothGraphs(string path, DecodeOptions[] optionsToTry)
    {
        using var dense = ModelLoader.Load(path, new EngineRequest(Threads: 1));
        var (graph, decoder) = CandidateGraph.Rewrite(File.ReadAllBytes(path), dense.Decoder);
        Assert.Equal([.. dense.Decoder.OutputNames, CandidateGraph.AnchorsOutput], decoder.OutputNames);
        using var candidates = new OrtEngine(OrtSessionFactory.Create(graph, path, threads: 1, cuda: null), "candidates", decoder.OutputNames);
        var input = new float[dense.Input.ValuesPerImage];
        var letterbox = LetterboxTransform.Create(dense.Input.Width, dense.Input.Height, dense.Input.Width, dense.Input.Height, dense.Input.CenteredLetterbox);
        var chosen = candidates.Run(input, 1);
        var shape = chosen.Tensor(decoder.OutputNames[0]).Shape;
        Assert.Contains(Math.Min(CandidateGraph.MaxCandidates, dense.Engine.Run(input, 1).Tensor(decoder.OutputNames[0]).Shape.Max()), shape);
        return optionsToTry.Sum(options => AssertSameDetections(dense.Decoder, dense.Engine.Run(input, 1), decoder, chosen, [letterbox], options));
    }

    private static int AssertSameDetections(IDetectionDecoder wholeDecoder, EngineOutput whole, IDetectionDecoder candidateDecoder, EngineOutput chosen,
        LetterboxTransform[] letterboxes, DecodeOptions options)
    {
        int agreed = 0;
        for (int i = 0; i < letterboxes.Length; i++)
        {
            var want = wholeDecoder.Decode(whole, i, letterboxes[i], options);
            var got = candidateDecoder.Decode(chosen, i, letterboxes[i], options);
            agreed += DetectionAssert.Same(want, got, pixels: 0.02f);
        }
        return agreed;
    }

    private static (float[] Floats, LetterboxTransform[] Letterboxes) CocoInput(InputSpec spec, int images)
    {
        var (canvases, sources) = CocoImages.Canvases(spec, images);
        var floats = new float[images * spec.ValuesPerImage];
        for (int i = 0; i < images; i++) PixelTensor.Write(spec, canvases[i], floats.AsSpan(i * spec.ValuesPerImage, spec.ValuesPerImage));
        return (floats, sources.Select(s => LetterboxTransform.Create(s.Width, s.Height, spec.Width, spec.Height, spec.CenteredLetterbox)).ToArray());
    }

    /// <summary>A constant-output YOLO graph at 640²: YOLOv8 [1, 4+nc, A] channel-major, or YOLOv5 [1, A, 5+nc] rows
    /// with objectness 1 (so its scores equal the class scores).</summary>
    private string WriteYolo(string kind, int anchors, int classes, (int Cx, int Cy, int W, int H)[] boxes, float[] scores)
    {
        bool v8 = kind == "yolov8";
        int channels = v8 ? 4 + classes : 5 + classes;
        var output = new float[anchors * channels];
        for (int a = 0; a < anchors; a++)
        {
            var (cx, cy, w, h) = boxes[a];
            float[] row = [cx, cy, w, h, .. v8 ? Array.Empty<float>() : [1f], .. scores.AsSpan(a * classes, classes)];
            for (int c = 0; c < channels; c++) output[v8 ? c * anchors + a : a * channels + c] = row[c];
        }
        int[] shape = v8 ? [1, channels, anchors] : [1, anchors, channels];
        var names = "{" + string.Join(", ", Enumerable.Range(0, classes).Select(c => $"{c}: 'c{c}'")) + "}";
        return TinyDetectorGraphs.Write(_folder, $"{kind}.onnx", [1, 3, 640, 640], "output0", output, shape,
            new Dictionary<string, string> { ["names"] = names });
    }
}
