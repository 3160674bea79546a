using System.Text.Json;
using OpenCvSharp;
using MoeDetect.Model;
using MoeDetect.Model.Decoding;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Loading;
using MoeDetect.Pipeline.Inference;
using MoeDetect.Pipeline.Offline;
using MoeDetect.Pipeline.Sources;
using MoeDetect.Tests.Support;

namespace MoeDetect.Tests.Pipeline;

/// <summary>The offline batch tool on real encoded video: bad inputs are reported and skipped, good ones produce
/// complete outputs.</summary>
public class DetectJobTests
{
    private readonly string _folder = TestPaths.NewTempFolder();

    private FrameDetector TinyDetector() => TinyDetectorGraphs.LoadOnePersonDetector(_folder);

    private static RunReport Run(FrameDetector detector, DetectJobOptions options) =>
        new DetectJob(detector, options, new NullProgress()).RunAsync(CancellationToken.None).GetAwaiter().GetResult();

    [Fact]
    public void Folder_run_continues_past_bad_files_and_reports_them()
    {
        string inputs = Path.Combine(_folder, "in"), output = Path.Combine(_folder, "out");
        Directory.CreateDirectory(inputs);
        var good = TestVideos.Write(Path.Combine(inputs, "a_good.mp4"), frames: 12);
        TestVideos.Truncate(good, Path.Combine(inputs, "b_truncated.mp4"), 0.5);
        File.WriteAllBytes(Path.Combine(inputs, "c_garbage.mkv"), Enumerable.Range(0, 5000).Select(i => (byte)(i * 31)).ToArray());
        File.WriteAllBytes(Path.Combine(inputs, "d_empty.avi"), []);
        using var detector = TinyDetector();

        var report = Run(detector, new DetectJobOptions(InputResolver.Resolve([inputs]), output));

        var byName = report.Inputs.ToDictionary(i => i.Source.Name);
        Assert.Equal("ok", byName["a_good"].Status);
        Assert.Equal(12, byName["a_good"].FramesProcessed);
        Assert.Equal(12, File.ReadAllLines(Path.Combine(output, "a_good.jsonl")).Length);
        foreach (var bad in new[] { "b_truncated", "c_garbage", "d_empty" })
        {
            Assert.Equal("failed", byName[bad].Status);
            Assert.Contains(bad, byName[bad].Error);
            Assert.False(File.Exists(Path.Combine(output, bad + ".jsonl")));
        }
        Assert.Contains("is empty (0 bytes)", byName["d_empty"].Error);
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, DetectJob.SummaryFileName)));
        Assert.Equal(3, summary.RootElement.GetProperty("failed_inputs").GetInt32());
        Assert.Equal(12, summary.RootElement.GetProperty("frames").GetInt64());
        Assert.Equal(4, summary.RootElement.GetProperty("inputs").GetArrayLength());
    }

    [Fact]
    public void Video_cut_mid_stream_keeps_the_frames_already_processed_and_says_partial()
    {
        // AVI (MJPEG) announces its frame count in the header, so a cut file still opens and ends early.
        var full = Path.Combine(_folder, "full.avi");
        using (var writer = new VideoWriter(full, VideoCaptureAPIs.FFMPEG, FourCC.MJPG, 10, new Size(160, 120)))
            for (int i = 0; i < 40; i++)
            {
                using var image = new Mat(120, 160, MatType.CV_8UC3, Scalar.All(i * 5));
                writer.Write(image);
            }
        var cut = TestVideos.Truncate(full, Path.Combine(_folder, "cut.avi"), 0.5);
        using var detector = TinyDetector();

        var report = Run(detector, new DetectJobOptions(InputResolver.Resolve([cut]), Path.Combine(_folder, "out")));

        var outcome = Assert.Single(report.Inputs);
        Assert.Equal("partial", outcome.Status);
        Assert.Contains("of the 40 frames", outcome.Error);
        Assert.InRange(outcome.FramesProcessed, 5, 30);
        Assert.Equal(outcome.FramesProcessed, File.ReadAllLines(outcome.JsonlPath!).Length);
    }

    [Fact]
    public void Stride_and_max_frames_select_the_processed_frames()
    {
        var clip = TestVideos.Write(Path.Combine(_folder, "s.mp4"), frames: 20);
        using var detector = TinyDetector();
        var report = Run(detector, new DetectJobOptions(InputResolver.Resolve([clip]), Path.Combine(_folder, "out"), FrameStride: 3, MaxFrames: 4, BatchSize: 3));
        var lines = File.ReadAllLines(Assert.Single(report.Inputs).JsonlPath!);
        Assert.Equal([0L, 3, 6, 9], lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("frame").GetInt64()));
    }

    [Fact]
    public void Output_that_cannot_be_written_fails_that_input_with_its_path_and_the_next_input_still_runs()
    {
        string inputs = Path.Combine(_folder, "in"), output = Path.Combine(_folder, "out");
        Directory.CreateDirectory(inputs);
        TestVideos.Write(Path.Combine(inputs, "a_blocked.mp4"), frames: 12);
        TestVideos.Write(Path.Combine(inputs, "b_fine.mp4"), frames: 12);
        // A folder where the detections file must go: the writer fails while detection runs ahead of it.
        string blocked = AtomicFile.TemporaryPathFor(Path.Combine(output, "a_blocked.jsonl"));
        Directory.CreateDirectory(blocked);
        using var detector = TinyDetector();

        var report = Run(detector, new DetectJobOptions(InputResolver.Resolve([inputs]), output, BatchSize: 2));

        var byName = report.Inputs.ToDictionary(i => i.Source.Name);
        Assert.Equal("failed", byName["a_blocked"].Status);
        Assert.Contains(blocked, byName["a_blocked"].Error);
        Assert.Equal("ok", byName["b_fine"].Status);
        Assert.Equal(12, File.ReadAllLines(Path.Combine(output, "b_fine.jsonl")).Length);
    }

    [Fact]
    public void Output_folder_that_cannot_be_created_is_an_error_naming_it()
    {
        var file = Path.Combine(_folder, "a-file");
        File.WriteAllText(file, "");
        var clip = TestVideos.Write(Path.Combine(_folder, "w.mp4"), frames: 2);
        using var detector = TinyDetector();
        var e = Assert.Throws<MoeDetectException>(() => Run(detector, new DetectJobOptions(InputResolver.Resolve([clip]), Path.Combine(file, "out"))));
        Assert.Contains("is not writable", e.Message);
    }

    [SkippableFact]
    public void Pedestrian_clip_with_the_default_model_finds_people_and_writes_every_output()
    {
        Skip.If(TestPaths.SharedMissing is not null, TestPaths.SharedMissing);
        Skip.IfNot(File.Exists(TestPaths.DefaultModel), "default model missing");
        string output = Path.Combine(_folder, "e2e");
        using var model = ModelLoader.Load(TestPaths.DefaultModel, new EngineRequest());
        using var detector = new FrameDetector(model, new DecodeOptions(Confidence: 0.3f));
        var sources = InputResolver.Resolve([TestPaths.SharedVideo("pedestrians-720p.avi")]);

        var report = Run(detector, new DetectJobOptions(sources, output, FrameStride: 10, MaxFrames: 8, SaveVideo: true, BatchSize: 2));

        var outcome = Assert.Single(report.Inputs);
        Assert.Equal(("ok", 8L), (outcome.Status, outcome.FramesProcessed));
        var frames = File.ReadAllLines(outcome.JsonlPath!).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var people = frames.Select(f => f.GetProperty("detections").EnumerateArray().Count(d => d.GetProperty("label").GetString() == "person")).ToList();
        Assert.True(people.Count(n => n >= 2) >= 6, $"people per frame: {string.Join(",", people)}");
        foreach (var box in frames.SelectMany(f => f.GetProperty("detections").EnumerateArray()).Select(d => d.GetProperty("box").EnumerateArray().Select(v => v.GetDouble()).ToArray()))
            Assert.True(box[0] >= 0 && box[1] >= 0 && box[2] <= 1280 && box[3] <= 720 && box[0] < box[2] && box[1] < box[3], string.Join(",", box));
        using (var video = new VideoCapture(outcome.VideoPath!))
            Assert.Equal(8, (int)video.Get(VideoCaptureProperties.FrameCount));
        Assert.Equal(["decode", "preprocess", "upload", "inference", "download", "postprocess", "write"], report.Stages.Select(s => s.Stage));
    }
}
