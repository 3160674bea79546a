using MoeDetect.Model.Engines;
using MoeDetect.Model.Engines.Auto;
using MoeDetect.Tests.Support;

namespace MoeDetect.Tests.GpuEngine;

/// <summary>How --engine auto decides between ort and ilgpu: this machine's bench of the model file at the batch on
/// this GPU, else the project's H100 bench.</summary>
public class GpuEngineChooserTests
{
    private const string H100 = "NVIDIA H100 80GB HBM3";
    private static readonly ModelFingerprint Moe = new("esmoe-centernet.moedet", new string('a', 64));
    private static readonly ModelFingerprint Onnx = new("centernet-mnv3.onnx", new string('b', 64));

    private static MeasuredEngineChoice Measured(ModelFingerprint model, int batch, double ortMs, double ilgpuMs, string gpu = H100) =>
        new(gpu, model.FileName, model.Sha256, batch, ortMs, ilgpuMs);

    [Theory]
    [InlineData(1, GpuEngines.Ilgpu)]
    [InlineData(4, GpuEngines.Ilgpu)] // nearest measured batch: 1
    [InlineData(5, GpuEngines.Ort)] // nearest: 8
    [InlineData(8, GpuEngines.Ort)]
    [InlineData(32, GpuEngines.Ort)]
    [InlineData(256, GpuEngines.Ort)]
    public void Without_a_measurement_here_an_es_moe_model_goes_by_the_projects_h100_bench(int batch, string expected)
    {
        var choice = GpuEngineChooser.Choose(Moe, batch, H100, []);
        Assert.Equal(expected, choice.Engine);
        Assert.Contains("the project's H100 bench", choice.Reason);
        Assert.Contains("docs/results/2026-12-05-h100-bench", choice.Reason);
    }

    [Fact]
    public void The_h100_reason_gives_the_measured_times_and_the_batch_they_were_measured_at()
    {
        Assert.Equal("faster for the ES-MoE model (.moedet) at batch 1 in the project's H100 bench, 2.958 vs 6.414 ms/frame (docs/results/2026-12-05-h100-bench)",
            GpuEngineChooser.Choose(Moe, 1, H100, []).Reason);
        Assert.Contains("at batch 32, the measured batch nearest 40, in the project's H100 bench, 0.734 vs 0.965 ms/frame",
            GpuEngineChooser.Choose(Moe, 40, H100, []).Reason);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    [InlineData(32)]
    public void Without_a_measurement_here_onnx_models_other_than_the_bundled_centernet_run_ort(int batch)
    {
        var choice = GpuEngineChooser.Choose(Onnx, batch, H100, []);
        Assert.Equal(GpuEngines.Ort, choice.Engine);
        Assert.Contains("YOLOv8n and NanoDet-g at every batch", choice.Reason);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    [InlineData(32)]
    [InlineData(64)]
    public void Without_a_measurement_here_the_bundled_centernet_runs_ilgpu(int batch)
    {
        var bundled = ModelFingerprint.Of(TestPaths.DefaultModel);
        var choice = GpuEngineChooser.Choose(bundled, batch, H100, []);
        Assert.Equal(GpuEngines.Ilgpu, choice.Engine);
        Assert.Contains("the bundled CenterNet (centernet-mnv3.onnx)", choice.Reason);
    }

    [Fact]
    public void This_machines_measurement_overrides_the_h100_rule()
    {
        var measured = new[] { Measured(Moe, 1, ortMs: 2.0, ilgpuMs: 2.5), Measured(Onnx, 8, ortMs: 1.5, ilgpuMs: 0.9) };

        var moe = GpuEngineChooser.Choose(Moe, 1, H100, measured);
        var onnx = GpuEngineChooser.Choose(Onnx, 8, H100, measured);

        Assert.Equal(new EngineChoice(GpuEngines.Ort, "faster for esmoe-centernet.moedet at batch 1 in this machine's bench, 2.000 vs 2.500 ms/frame"), moe);
        Assert.Equal(GpuEngines.Ilgpu, onnx.Engine);
        Assert.Contains("this machine's bench, 0.900 vs 1.500 ms/frame", onnx.Reason);
    }

    [Fact]
    public void Measurements_of_another_gpu_model_file_or_batch_are_not_this_run()
    {
        var retrained = Moe with { Sha256 = new string('c', 64) };
        var measured = new[]
        {
            Measured(Moe, 1, ortMs: 2.0, ilgpuMs: 9.0, gpu: "NVIDIA L4"),
            Measured(retrained, 1, ortMs: 2.0, ilgpuMs: 9.0),
            Measured(Moe, 8, ortMs: 2.0, ilgpuMs: 9.0),
        };

        var choice = GpuEngineChooser.Choose(Moe, 1, H100, measured);

        Assert.Equal(GpuEngines.Ilgpu, choice.Engine);
        Assert.Contains("the project's H100 bench", choice.Reason);
    }

    [Fact]
    public void The_same_file_under_another_name_is_the_same_model()
    {
        var renamed = Moe with { FileName = "copy.moedet" };
        var choice = GpuEngineChooser.Choose(renamed, 1, H100, [Measured(Moe, 1, ortMs: 2.0, ilgpuMs: 9.0)]);
        Assert.Equal(GpuEngines.Ort, choice.Engine);
        Assert.Contains("copy.moedet", choice.Reason);
    }

    [Fact]
    public void A_fingerprint_is_the_files_sha256()
    {
        string path = Path.Combine(Directory.CreateTempSubdirectory("moedetect-fingerprint-").FullName, "m.moedet");
        File.WriteAllText(path, "abc");
        try
        {
            var fingerprint = ModelFingerprint.Of(path);
            Assert.Equal(new ModelFingerprint("m.moedet", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), fingerprint);
            Assert.True(fingerprint.IsMixtureOfExperts);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }
}
