using System.Text.Json;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Engines.Auto;
using MoeDetect.Pipeline.Benchmarking;
using MoeDetect.Pipeline.Timing;
using MoeDetect.Model;

namespace MoeDetect.Tests.GpuEngine;

/// <summary>This machine's engine choice file: what a GPU bench records in it, how it is merged and written, where it
/// lives, and that a broken one is a warning.</summary>
public sealed class EngineChoiceFileTests : IDisposable
{
    private const string Gpu = "NVIDIA H100 80GB HBM3";
    private static readonly ModelFingerprint Moe = new("esmoe-centernet.moedet", new string('a', 64));
    private static readonly ModelFingerprint Onnx = new("centernet-mnv3.onnx", new string('b', 64));
    private readonly string _folder = Directory.CreateTempSubdirectory("moedetect-choice-").FullName;
    private readonly List<string> _warnings = [];

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string ChoiceFile => Path.Combine(_folder, "cache", "moedetect", "engine-choice.json");

    private static BenchResult Timed(string variant, int batch, double msPerFrame) =>
        new(variant, variant, batch, 64, 1000 / msPerFrame, new Dictionary<string, double> { [Stages.Inference] = msPerFrame });

    private static BenchResult Failed(string variant, int batch) => new(variant, "", batch, 0, 0, new Dictionary<string, double>(), "failed");

    [Fact]
    public void A_gpu_bench_yields_the_faster_product_path_at_each_batch_where_both_ran()
    {
        BenchResult[] results =
        [
            Timed("ort-cuda-host", 1, 1.0), Timed(BenchVariant.OrtProduct, 1, 5.0), Timed(BenchVariant.IlgpuProduct, 1, 3.0),
            Timed("ort-cuda-iobinding", 8, 0.5), Timed(BenchVariant.OrtProduct, 8, 1.2), Timed(BenchVariant.IlgpuProduct, 8, 1.5),
            Timed(BenchVariant.OrtProduct, 32, 0.7), Failed(BenchVariant.IlgpuProduct, 32),
        ];

        var choices = BenchEngineChoices.From(results, Gpu, Moe);

        Assert.Equal([(1, GpuEngines.Ilgpu), (8, GpuEngines.Ort)], choices.Select(c => (c.Batch, c.Engine)));
        Assert.Equal(new MeasuredEngineChoice(Gpu, Moe.FileName, Moe.Sha256, 1, 5.0, 3.0, "nchw"), choices[0]);
        Assert.Equal("3.000 vs 5.000 ms/frame", choices[0].Times.ToString());
    }

    [Fact]
    public void The_fastest_ort_layout_stands_for_ort_and_is_recorded()
    {
        BenchResult[] results =
        [
            Timed(BenchVariant.OrtProduct, 1, 5.0), Timed("ort-cuda-iobinding-graph-nhwc-queued", 1, 4.0),
            Timed("ort-cuda-iobinding-graph-nhwc-fused-bias-queued", 1, 6.0), Timed("ort-cuda-raw-nhwc", 1, 1.0),
            // Synced runs are timed beside the product path; they are not what --engine ort runs.
            Timed("ort-cuda-iobinding-graph-nhwc-fused-bias", 1, 3.0), Timed(BenchVariant.IlgpuProduct, 1, 4.5),
        ];

        var choice = Assert.Single(BenchEngineChoices.From(results, Gpu, Onnx));

        Assert.Equal(new MeasuredEngineChoice(Gpu, Onnx.FileName, Onnx.Sha256, 1, 4.0, 4.5, "nhwc"), choice);
        Assert.Equal(GpuEngines.Ort, choice.Engine);
    }

    [Fact]
    public void A_file_with_an_unknown_layout_is_refused_naming_it()
    {
        string json = """{"choices": [{"gpu": "G", "model": "m.onnx", "model_sha256": "%", "batch": 1, "ort_ms_per_frame": 1, "ilgpu_ms_per_frame": 2, "ort_layout": "chwn"}]}"""
            .Replace("%", new string('c', 64));

        var e = Assert.Throws<InvalidDataException>(() => EngineChoiceFile.Parse(json));

        Assert.Equal("choices[0]: ort_layout 'chwn' is not nchw, nhwc or nhwc-fused-bias", e.Message);
    }

    [Fact]
    public void Ort_variants_alone_yield_no_choice()
    {
        Assert.Empty(BenchEngineChoices.From([Timed(BenchVariant.OrtProduct, 1, 5.0), Timed("ort-cuda-raw", 1, 4.0)], Gpu, Onnx));
    }

    [Fact]
    public void The_bench_json_adds_the_choices_and_keeps_its_other_fields()
    {
        var choice = new MeasuredEngineChoice(Gpu, Moe.FileName, Moe.Sha256, 1, 5.0, 3.0);
        var report = new BenchReport("GPU: " + Gpu, "models/esmoe-centernet.moedet", "frames.raw", [Timed(BenchVariant.OrtProduct, 1, 5.0)], [choice]);

        var root = JsonDocument.Parse(report.ToJson()).RootElement;

        Assert.Equal(["best_overhead", "device", "engine_choice", "frames", "model", "overhead", "results"], root.EnumerateObject().Select(p => p.Name).Order());
        Assert.Equal(["batch", "engine", "frames", "frames_per_second", "stage_ms", "variant"],
            root.GetProperty("results")[0].EnumerateObject().Select(p => p.Name).Order());
        var written = root.GetProperty("engine_choice")[0];
        Assert.Equal(["batch", "engine", "gpu", "ilgpu_ms_per_frame", "model", "model_sha256", "ort_ms_per_frame"],
            written.EnumerateObject().Select(p => p.Name).Order());
        Assert.Equal("ilgpu", written.GetProperty("engine").GetString());
    }

    [Fact]
    public void Recording_replaces_the_same_gpu_model_and_batch_and_keeps_every_other_entry()
    {
        var otherGpu = new MeasuredEngineChoice("NVIDIA L4", Moe.FileName, Moe.Sha256, 1, 9.0, 4.0);
        var otherModel = new MeasuredEngineChoice(Gpu, Onnx.FileName, Onnx.Sha256, 1, 1.0, 2.0);
        var otherBatch = new MeasuredEngineChoice(Gpu, Moe.FileName, Moe.Sha256, 32, 0.7, 1.2);
        var old = new MeasuredEngineChoice(Gpu, Moe.FileName, Moe.Sha256, 1, 5.0, 3.0);
        BenchEngineChoices.Record(ChoiceFile, [otherGpu, otherModel, otherBatch, old], _warnings.Add);
        var remeasured = old with { OrtMsPerFrame = 2.0 };

        BenchEngineChoices.Record(ChoiceFile, [remeasured], _warnings.Add);

        Assert.Equal([otherGpu, otherModel, otherBatch, remeasured], EngineChoiceFile.Read(ChoiceFile, _warnings.Add));
        Assert.Empty(_warnings);
        Assert.Equal(["engine-choice.json"], Directory.GetFiles(Path.GetDirectoryName(ChoiceFile)!).Select(Path.GetFileName));
        Assert.Equal(GpuEngines.Ort, GpuEngineChooser.Choose(Moe, 1, Gpu, EngineChoiceFile.Read(ChoiceFile, _warnings.Add)).Engine);
    }

    [Fact]
    public void The_file_names_the_winner_for_people_reading_it()
    {
        BenchEngineChoices.Record(ChoiceFile, [new MeasuredEngineChoice(Gpu, Moe.FileName, Moe.Sha256, 1, 5.0, 3.0)], _warnings.Add);
        string json = File.ReadAllText(ChoiceFile);
        Assert.Contains("\"engine\": \"ilgpu\"", json);
        Assert.Contains("\"model_sha256\": \"" + Moe.Sha256 + "\"", json);
        Assert.Contains("\"ort_ms_per_frame\": 5", json);
    }

    [Fact]
    public void The_file_is_written_under_another_name_first_so_a_failed_write_leaves_the_old_one_whole()
    {
        var kept = new MeasuredEngineChoice(Gpu, Moe.FileName, Moe.Sha256, 1, 5.0, 3.0);
        BenchEngineChoices.Record(ChoiceFile, [kept], _warnings.Add);
        string before = File.ReadAllText(ChoiceFile);
        // A folder where the temporary file goes makes writing it fail.
        Directory.CreateDirectory(AtomicFile.TemporaryPathFor(ChoiceFile));

        BenchEngineChoices.Record(ChoiceFile, [kept with { Batch = 8 }], _warnings.Add);

        Assert.Equal(before, File.ReadAllText(ChoiceFile));
        var warning = Assert.Single(_warnings);
        Assert.StartsWith($"warning: could not write the engine choice file {ChoiceFile} (", warning);
        Assert.Contains(EngineChoiceFile.PathVariable, warning);
    }

    [Theory]
    [InlineData("not json at all")]
    [InlineData("{\"choices\": 3}")]
    [InlineData("{}")]
    [InlineData("{\"choices\": [{\"gpu\": \"g\", \"model\": \"m.onnx\", \"model_sha256\": \"abc\", \"batch\": 1, \"ort_ms_per_frame\": 1, \"ilgpu_ms_per_frame\": 2}]}")]
    [InlineData("{\"choices\": [{\"gpu\": \"g\", \"model\": \"m.onnx\", \"model_sha256\": \"" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + "\", \"batch\": 0, \"ort_ms_per_frame\": 1, \"ilgpu_ms_per_frame\": 2}]}")]
    public void A_corrupt_file_is_one_warning_and_auto_goes_by_the_h100_rule(string contents)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(ChoiceFile)!);
        File.WriteAllText(ChoiceFile, contents);

        var measured = EngineChoiceFile.Read(ChoiceFile, _warnings.Add);

        Assert.Empty(measured);
        var warning = Assert.Single(_warnings);
        Assert.StartsWith($"warning: ignoring the engine choice file {ChoiceFile} (", warning);
        Assert.EndsWith("moedetect bench --device gpu writes it anew", warning);
        Assert.Contains("the project's H100 bench", GpuEngineChooser.Choose(Moe, 1, Gpu, measured).Reason);
    }

    [Fact]
    public void A_corrupt_file_is_replaced_by_the_next_gpu_bench()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(ChoiceFile)!);
        File.WriteAllText(ChoiceFile, "{ broken");
        var measured = new MeasuredEngineChoice(Gpu, Moe.FileName, Moe.Sha256, 1, 5.0, 3.0);

        BenchEngineChoices.Record(ChoiceFile, [measured], _warnings.Add);

        Assert.Single(_warnings);
        Assert.Equal([measured], EngineChoiceFile.Read(ChoiceFile, _warnings.Add));
    }

    [Fact]
    public void No_file_is_no_measurement_and_no_warning()
    {
        Assert.Empty(EngineChoiceFile.Read(ChoiceFile, _warnings.Add));
        Assert.Empty(_warnings);
    }

    [Theory]
    [InlineData("/tmp/choice.json", "/x/cache", "/tmp/choice.json")]
    [InlineData(null, "/x/cache", "/x/cache/moedetect/engine-choice.json")]
    [InlineData(null, "relative/cache", "/home/u/.cache/moedetect/engine-choice.json")]
    [InlineData(null, null, "/home/u/.cache/moedetect/engine-choice.json")]
    public void The_file_is_in_the_users_cache_folder_unless_the_variable_names_another(string? variable, string? xdgCache, string expected)
    {
        var environment = new Dictionary<string, string?> { [EngineChoiceFile.PathVariable] = variable, ["XDG_CACHE_HOME"] = xdgCache };
        Assert.Equal(expected, EngineChoiceFile.DefaultPath(name => environment.GetValueOrDefault(name), "/home/u"));
    }
}
