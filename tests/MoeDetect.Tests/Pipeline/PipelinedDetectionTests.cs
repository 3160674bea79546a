using System.Text.Json;
using MoeDetect.Model.Decoding;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Ilgpu;
using MoeDetect.Model.Loading;
using MoeDetect.Pipeline.Frames;
using MoeDetect.Pipeline.Inference;
using MoeDetect.Pipeline.Offline;
using MoeDetect.Pipeline.Sources;
using MoeDetect.Pipeline.Timing;
using MoeDetect.Tests.Support;
using OpenCvSharp;
using Xunit;

namespace MoeDetect.Tests.Pipeline;

/// <summary>Batches overlapped on a two-slot pixel engine (the IOBinding engine, here on ONNX Runtime's CPU provider with
/// host memory: the same code as on the GPU, runs synced or queued): each batch comes back once, in order, with its own detections.</summary>
public sealed class PipelinedDetectionTests : IDisposable
{
    private readonly string _folder = TestPaths.NewTempFolder();

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void Overlapped_batches_come_back_in_order_with_the_detections_of_one_by_one_runs(bool queuedRuns)
    {
        Skip.If(TestPaths.SharedMissing is not null, TestPaths.SharedMissing);
        string path = Path.Combine(TestPaths.Models, "nanodet-g.onnx");
        using var floats = ModelLoader.Load(path, new EngineRequest(Threads: 2));
        using var reference = new FrameDetector(floats, new DecodeOptions());
        using var pixels = BoundModel(path, floats, batch: 2, queuedRuns);
        using var pipelined = new FrameDetector(pixels, new DecodeOptions());
        // Seven photos of different sizes in batches of 2, 2, 2, 1.
        var photos = Directory.GetFiles(Path.Combine(TestPaths.Coco128, "images"), "*.jpg").Order().Take(7)
            .Select((file, i) => new Frame(Cv2.ImRead(file), "coco", i, 0)).ToList();
        var stats = new StageStatistics();

        var returned = new List<FrameDetections>();
        Assert.Null(pipelined.Submit(photos[..2], stats));
        for (int first = 2; first < photos.Count; first += 2)
            returned.AddRange(pipelined.Submit(photos[first..Math.Min(photos.Count, first + 2)], stats)!);
        returned.AddRange(pipelined.Flush(stats)!);
        Assert.Null(pipelined.Flush(stats));

        Assert.Equal(photos.Select(p => p.Index), returned.Select(r => r.FrameIndex));
        int detections = 0;
        foreach (var (photo, got) in photos.Zip(returned))
        {
            var want = Assert.Single(reference.Detect([photo], new StageStatistics()));
            Assert.Equal(want.Width, got.Width);
            detections += DetectionAssert.Same(want.Detections, got.Detections, pixels: 0.01f);
        }
        Assert.True(detections >= 7, $"NanoDet should find objects in seven COCO photos, found {detections}");
        Assert.Equal(7, stats.Summarise().Single(s => s.Stage == Stages.Inference).Count);
        foreach (var p in photos) p.Dispose();
    }

    [Theory]
    [InlineData("ort")]
    [InlineData("ort-queued")]
    [InlineData("ilgpu")]
    public async Task An_offline_run_on_an_overlapping_engine_writes_every_frame_once_in_order(string engine)
    {
        var clip = TestVideos.Write(Path.Combine(_folder, "clip.mp4"), frames: 11);
        string path = TinyDetectorGraphs.WriteOnePersonDetector(_folder);
        using var floats = ModelLoader.Load(path, new EngineRequest(Threads: 1));
        using var pixels = engine == "ilgpu" ? IlgpuModel(path, floats, batch: 3) : BoundModel(path, floats, batch: 3, queuedRuns: engine == "ort-queued");
        using var detector = new FrameDetector(pixels, new DecodeOptions());

        var report = await new DetectJob(detector, new DetectJobOptions(InputResolver.Resolve([clip]), Path.Combine(_folder, "out"), BatchSize: 3),
            new NullProgress()).RunAsync(CancellationToken.None);

        var lines = File.ReadAllLines(Assert.Single(report.Inputs).JsonlPath!).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(Enumerable.Range(0, 11).Select(i => (long)i), lines.Select(l => l.GetProperty("frame").GetInt64()));
        Assert.All(lines, l => Assert.Equal("person", l.GetProperty("detections")[0].GetProperty("label").GetString()));
    }

    /// <summary>The model behind the ILGPU engine (CPU accelerator) fed canvases from two staging slots.</summary>
    private static DetectorModel IlgpuModel(string path, DetectorModel floats, int batch)
    {
        var engine = new IlgpuPixelEngine(IlgpuEngine.Load(File.ReadAllBytes(path), path, IlgpuTarget.CpuAccelerator,
            outputNames: floats.Decoder.OutputNames), floats.Input, batch);
        return new DetectorModel(path, floats.Input, floats.ClassNames, floats.Decoder, engine, isMixtureOfExperts: false);
    }

    /// <summary>The model behind the IOBinding engine with two staging slots, on host memory.</summary>
    private static DetectorModel BoundModel(string path, DetectorModel floats, int batch, bool queuedRuns = false)
    {
        var engine = ModelLoader.CreateBound(File.ReadAllBytes(path), path, new EngineRequest(Threads: 2, Batch: batch), floats.Input,
            floats.Decoder.OutputNames, cuda: null, new HostTensorMemory(), queuedRuns);
        Assert.Equal(2, engine.PixelSlots);
        Assert.Equal(queuedRuns, engine.RunsQueued);
        return new DetectorModel(path, floats.Input, floats.ClassNames, floats.Decoder, engine, isMixtureOfExperts: false);
    }
}
