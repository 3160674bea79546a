using System.Text.Json;
using MoeDetect.Model;
using MoeDetect.Model.Decoding;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Engines.Cuda;
using MoeDetect.Model.Input;
using MoeDetect.Model.Loading;
using MoeDetect.Pipeline.Benchmarking;
using MoeDetect.Pipeline.Timing;
using MoeDetect.Tests.Support;
using Xunit;

namespace MoeDetect.Tests.GpuEngine;

/// <summary>The benchmark's frames file and one CPU run of it (what it reports, not how fast).</summary>
public sealed class BenchTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("moedetect-bench-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static BenchFrames RandomFrames(int count)
    {
        var random = new Random(3);
        int size = TinyDetectorGraph.Size;
        var canvases = Enumerable.Range(0, count).Select(_ => { var c = new byte[3 * size * size]; random.NextBytes(c); return c; }).ToArray();
        return new BenchFrames(size, size, canvases.Select((_, i) => (640 + i, 480)).ToArray(), canvases);
    }

    [Fact]
    public void Frames_file_round_trips()
    {
        var frames = RandomFrames(3);
        string path = Path.Combine(_folder, "f.raw");
        frames.Save(path);

        var loaded = BenchFrames.Load(path);

        Assert.Equal((frames.Width, frames.Height, frames.Count), (loaded.Width, loaded.Height, loaded.Count));
        Assert.Equal(frames.SourceSizes, loaded.SourceSizes);
        for (int i = 0; i < frames.Count; i++) Assert.Equal(frames.Canvases[i], loaded.Canvases[i]);
    }

    [Fact]
    public void Truncated_or_foreign_files_are_rejected_with_how_to_make_one()
    {
        string path = Path.Combine(_folder, "f.raw");
        RandomFrames(2).Save(path);
        File.WriteAllBytes(path, File.ReadAllBytes(path)[..1000]);
        var cut = Assert.Throws<MoeDetectException>(() => BenchFrames.Load(path));
        Assert.Contains("cut short", cut.Message);

        File.WriteAllText(path, "not frames at all");
        var foreign = Assert.Throws<MoeDetectException>(() => BenchFrames.Load(path));
        Assert.Contains("--save-frames", foreign.Message);
    }

    [Fact]
    public void Frames_of_another_size_than_the_model_input_are_refused()
    {
        var e = Assert.Throws<MoeDetectException>(() => RandomFrames(1).CheckFits(InputSpec.Ultralytics("images", 640, 640), "frames.raw"));
        Assert.Contains("64x64", e.Message);
        Assert.Contains("640x640", e.Message);
    }

    [Fact]
    public void Cpu_bench_reports_every_stage_and_fps_per_batch_and_writes_them_as_json()
    {
        string model = Path.Combine(_folder, "tiny.onnx");
        File.WriteAllBytes(model, TinyDetectorGraph.Build());
        var runner = new BenchRunner(model, RandomFrames(3), new DecodeOptions(), frameCount: 8);
        var variants = BenchVariant.For(ComputeDevice.Cpu, engine: null, threads: 1, new CudaSettings()).Where(v => !v.IsRawBaseline);

        var results = runner.Run(variants, [1, 4]).ToList();

        Assert.Equal([1, 4], results.Select(r => r.Batch));
        foreach (var r in results)
        {
            Assert.Null(r.Error);
            Assert.Equal("onnxruntime-cpu", r.Engine);
            Assert.Equal(8, r.Frames);
            Assert.True(r.FramesPerSecond > 0);
            foreach (var stage in new[] { Stages.Preprocess, Stages.Upload, Stages.Inference, Stages.Download, Stages.Postprocess })
            {
                Assert.True(r.StageMs.ContainsKey(stage), $"no {stage} time for batch {r.Batch}");
                // A median lies between the fastest and the slowest frame, so at most the mean times the frames.
                Assert.InRange(r.StageMedianMs![stage], 0, r.StageMs[stage] * r.Frames);
            }
            Assert.True(r.StageMs[Stages.Inference] > 0);
            Assert.True(r.StageMedianMs![Stages.Inference] > 0);
            Assert.Null(r.Efficiency); // ONNX Runtime does not say what arithmetic it ran
        }

        string json = Path.Combine(_folder, "bench.json");
        new BenchReport("CPU", model, "random", results).Save(json);
        var first = JsonDocument.Parse(File.ReadAllText(json)).RootElement.GetProperty("results")[0];
        Assert.Equal("ort-cpu", first.GetProperty("variant").GetString());
        Assert.True(first.GetProperty("stage_ms").GetProperty("inference").GetDouble() > 0);
        Assert.True(first.GetProperty("stage_median_ms").GetProperty("inference").GetDouble() > 0);
    }

    [Fact]
    public void Efficiency_is_the_counted_arithmetic_over_the_inference_time_and_its_share_of_the_gpus_peaks()
    {
        var tally = new BenchEfficiency.Tally();
        tally.Add(new EngineTimings(0.5, 1.5, 0.2, Flops: 3e9));
        tally.Add(new EngineTimings(0.5, 0.5, 0.2, Flops: 1e9));

        var onH100 = tally.Result(GpuPeak.For("NVIDIA H100 80GB HBM3"))!;
        var elsewhere = tally.Result(GpuPeak.For("NVIDIA GeForce GTX 1080"))!;

        Assert.Equal(2.0, onH100.InferenceTflops, 9);
        Assert.Equal("H100 SXM", onH100.PeakOf);
        Assert.Equal(2.0 / 989.4, onH100.FractionOfFp16TensorCorePeak!.Value, 9);
        Assert.Equal(2.0 / 494.7, onH100.FractionOfTf32TensorCorePeak!.Value, 9);
        Assert.Equal((2.0, null, null), (elsewhere.InferenceTflops, elsewhere.PeakOf, elsewhere.FractionOfFp16TensorCorePeak));
        Assert.Null(new BenchEfficiency.Tally().Result(GpuPeak.H100Sxm));

        var row = new BenchResult("ilgpu", "ilgpu", 32, 64, 100, new Dictionary<string, double>(), Efficiency: onH100);
        var json = JsonDocument.Parse(new BenchReport("GPU", "m.onnx", "frames.raw", [row]).ToJson()).RootElement;
        var efficiency = json.GetProperty("results")[0].GetProperty("efficiency");
        Assert.Equal(2.0, efficiency.GetProperty("inference_tflops").GetDouble(), 9);
        Assert.Equal(2.0 / 989.4, efficiency.GetProperty("fraction_of_fp16_tensor_core_peak").GetDouble(), 9);
    }

    [Theory]
    [InlineData("NVIDIA H100 80GB HBM3", "H100 SXM")]
    [InlineData("NVIDIA H100 PCIe", "H100 PCIe")]
    [InlineData("NVIDIA H100 NVL", "H100 NVL")]
    [InlineData("NVIDIA H200", "H200 SXM")]
    [InlineData("NVIDIA H200 NVL", "H200 NVL")]
    [InlineData("NVIDIA A100-SXM4-80GB", "A100")]
    [InlineData("NVIDIA GeForce RTX 4090", null)]
    public void Gpu_peaks_are_found_by_the_drivers_device_name(string deviceName, string? gpu) =>
        Assert.Equal(gpu, GpuPeak.For(deviceName)?.Gpu);

    [Fact]
    public void Against_ort_alone_in_several_layouts_the_best_overhead_is_the_fastest_product_over_the_fastest_raw_run()
    {
        static BenchResult Row(string variant, int batch, double ms, string? baselineFor = null) =>
            new(variant, variant, batch, 64, 1000 / ms, new Dictionary<string, double> { [Stages.Inference] = ms }, BaselineFor: baselineFor);
        string product = BenchVariant.OrtProduct, nhwc = product + "-nhwc";
        BenchResult[] results =
        [
            Row(product, 1, 5.0), Row(nhwc, 1, 4.0), Row("ort-cuda-raw", 1, 4.5, product), Row("ort-cuda-raw-nhwc", 1, 3.2, nhwc),
            Row(product, 8, 2.0), Row("ort-cuda-raw", 8, 1.6, product),
        ];

        var report = new BenchReport("GPU", "m.onnx", "frames.raw", results);

        Assert.Equal([(product, 1), (nhwc, 1), (product, 8)], report.Overhead.Select(o => (o.Product, o.Batch)));
        var best = Assert.Single(report.BestOverhead);
        Assert.Equal((nhwc, "ort-cuda-raw-nhwc", 1), (best.Product, best.Raw, best.Batch));
        Assert.Equal(1.25, best.Ratio, 6);
    }

    [Fact]
    public void A_product_with_synced_runs_is_measured_against_the_raw_run_of_its_layout()
    {
        static BenchResult Row(string variant, int batch, double ms, string? baselineFor = null) =>
            new(variant, variant, batch, 64, 1000 / ms, new Dictionary<string, double> { [Stages.Inference] = ms }, BaselineFor: baselineFor);
        string product = BenchVariant.OrtProduct, synced = product[..^CudaSettings.QueuedSuffix.Length];
        BenchResult[] results = [Row(product, 1, 4.2), Row(synced, 1, 5.0), Row("ort-cuda-raw", 1, 4.0, product)];

        var report = new BenchReport("GPU", "m.onnx", "frames.raw", results);

        Assert.Equal("ort-cuda-iobinding-graph-queued", product);
        Assert.Equal([product, synced], report.Overhead.Select(o => o.Product));
        var best = Assert.Single(report.BestOverhead);
        Assert.Equal((product, 1.05), (best.Product, Math.Round(best.Ratio, 6)));
    }

    [Fact]
    public void Gpu_variants_are_host_tensors_device_binding_cuda_graphs_in_each_layout_ort_alone_and_ilgpu()
    {
        var cuda = new CudaSettings(Search: ConvolutionSearch.Heuristic, MemoryLimitMb: 512);
        var variants = BenchVariant.For(ComputeDevice.Gpu, null, 0, cuda);
        // The layout left to auto: the product path and ORT alone in each layout.
        string[] ort =
        [
            "ort-cuda-host", "ort-cuda-iobinding",
            "ort-cuda-iobinding-graph-queued", "ort-cuda-iobinding-graph-nhwc-queued", "ort-cuda-iobinding-graph-nhwc-fused-bias-queued",
            "ort-cuda-iobinding-graph", "ort-cuda-iobinding-graph-nhwc", "ort-cuda-iobinding-graph-nhwc-fused-bias",
            "ort-cuda-raw", "ort-cuda-raw-nhwc", "ort-cuda-raw-nhwc-fused-bias",
        ];
        Assert.Equal([.. ort, "ilgpu"], variants.Select(v => v.Name));
        var raw = variants.Where(v => v.IsRawBaseline).ToList();
        Assert.Equal(["ort-cuda-iobinding-graph-queued", "ort-cuda-iobinding-graph-nhwc-queued", "ort-cuda-iobinding-graph-nhwc-fused-bias-queued"], raw.Select(v => v.BaselineFor));
        Assert.Equal(new CudaSettings(true, true, ConvolutionSearch.Heuristic, 512, ConvolutionLayout.Nchw), raw[0].Request.Cuda);
        Assert.All(variants.Where(v => v.Name.EndsWith("-queued")), v => Assert.True(v.Request.Cuda!.QueuesRuns));
        Assert.All(variants.Where(v => v.Name.StartsWith("ort-cuda-iobinding") && !v.Name.EndsWith("-queued")), v => Assert.False(v.Request.Cuda!.QueuesRuns));
        Assert.Equal(ConvolutionLayout.NhwcFusedBias, raw[2].Request.Cuda!.Layout);
        // The user's settings (cuDNN search, memory cap) reach every ORT variant.
        Assert.All(variants.Where(v => v.Name != "ilgpu"), v => Assert.Equal((ConvolutionSearch.Heuristic, 512), (v.Request.Cuda!.Search, v.Request.Cuda.MemoryLimitMb)));
        Assert.Equal(ort, BenchVariant.For(ComputeDevice.Gpu, "ort", 0, cuda).Select(v => v.Name));
        // A layout the user names is the only one timed.
        var nhwc = BenchVariant.For(ComputeDevice.Gpu, "ort", 0, cuda with { Layout = ConvolutionLayout.Nhwc }).Select(v => v.Name);
        Assert.Equal(["ort-cuda-host-nhwc", "ort-cuda-iobinding-nhwc", "ort-cuda-iobinding-graph-nhwc-queued", "ort-cuda-iobinding-graph-nhwc", "ort-cuda-raw-nhwc"], nhwc);
    }

    [SkippableFact]
    public void Cpu_bench_of_the_real_model_times_onnx_runtime_alone_and_reports_the_overhead()
    {
        Skip.If(TestPaths.SharedMissing is not null, TestPaths.SharedMissing);
        var spec = ModelLoader.DescribeInput(TestPaths.DefaultModel);
        var runner = new BenchRunner(TestPaths.DefaultModel, CocoFrames(spec, 2), new DecodeOptions(), frameCount: 2);
        var variants = BenchVariant.For(ComputeDevice.Cpu, engine: null, threads: 1, new CudaSettings());

        var results = runner.Run(variants, [1, 2]).ToList();

        Assert.Equal([("ort-cpu", 1), ("ort-cpu", 2), ("ort-cpu-raw", 1), ("ort-cpu-raw", 2)], results.Select(r => (r.Variant, r.Batch)));
        Assert.All(results, r => Assert.Null(r.Error));
        // Both frames' boxes, each frame counted once, whatever the batch.
        var products = results.Where(r => r.Variant == "ort-cpu").ToList();
        Assert.True(products[0].Detections > 0, "CenterNet should find objects in two COCO photos");
        Assert.Equal(products[0].Detections, products[1].Detections);
        foreach (var raw in results.Where(r => r.Variant == "ort-cpu-raw"))
        {
            Assert.Null(raw.Detections);
            Assert.Equal(("ort-cpu-iobinding", "ort-cpu"), (raw.Engine, raw.BaselineFor));
            // Only ONNX Runtime's run is timed: no preprocessing, copies or decoding.
            Assert.Equal([Stages.Inference], raw.StageMs.Keys);
            Assert.True(raw.StageMs[Stages.Inference] > 0 && raw.FramesPerSecond > 0);
        }

        string json = Path.Combine(_folder, "bench.json");
        new BenchReport("CPU", TestPaths.DefaultModel, "coco128", results).Save(json);
        var root = JsonDocument.Parse(File.ReadAllText(json)).RootElement;
        Assert.Equal("ort-cpu", root.GetProperty("results")[2].GetProperty("baseline_for").GetString());
        var overhead = root.GetProperty("overhead").EnumerateArray().ToList();
        Assert.Equal([1, 2], overhead.Select(o => o.GetProperty("batch").GetInt32()));
        foreach (var o in overhead)
        {
            Assert.Equal(("ort-cpu", "ort-cpu-raw"), (o.GetProperty("product").GetString(), o.GetProperty("raw").GetString()));
            double product = o.GetProperty("product_ms_per_frame").GetDouble(), raw = o.GetProperty("raw_ms_per_frame").GetDouble();
            Assert.True(product > 0 && raw > 0);
            Assert.Equal(product / raw, o.GetProperty("ratio").GetDouble(), 9);
        }
    }

    /// <summary>The bench contract for routed models: inference split into route, experts and the rest of the
    /// net, in the results and the JSON, parts of inference (not beside it).</summary>
    [SkippableFact]
    public void Bench_of_the_es_moe_model_splits_inference_into_route_experts_and_the_rest_of_the_net()
    {
        Skip.If(TestPaths.SharedMissing is not null, TestPaths.SharedMissing);
        string model = Path.Combine(TestPaths.Models, "esmoe-centernet.moedet");
        var spec = ModelLoader.DescribeInput(model);
        var runner = new BenchRunner(model, CocoFrames(spec, 2), new DecodeOptions(), frameCount: 2);
        var variant = BenchVariant.For(ComputeDevice.Cpu, engine: null, threads: 1, new CudaSettings()).First(v => !v.IsRawBaseline);

        var result = runner.RunOne(variant, 2);

        Assert.Null(result.Error);
        var ms = result.StageMs;
        foreach (var stage in new[] { Stages.Route, Stages.Experts, Stages.RestOfNet })
            Assert.True(ms.TryGetValue(stage, out var value) && value > 0, $"no {stage} time");
        Assert.Equal(ms[Stages.Inference], ms[Stages.Route] + ms[Stages.Experts] + ms[Stages.RestOfNet], 6);

        string json = Path.Combine(_folder, "bench.json");
        new BenchReport("CPU", model, "coco128", [result]).Save(json);
        var stages = JsonDocument.Parse(File.ReadAllText(json)).RootElement.GetProperty("results")[0].GetProperty("stage_ms");
        Assert.True(stages.GetProperty("rest_of_net").GetDouble() > 0);
    }

    private static BenchFrames CocoFrames(InputSpec spec, int count)
    {
        var (canvases, sources) = CocoImages.Canvases(spec, count);
        return new BenchFrames(spec.Width, spec.Height, sources, canvases);
    }
}
