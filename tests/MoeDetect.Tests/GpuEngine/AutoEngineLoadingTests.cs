using MoeDetect.Model.Engines;
using MoeDetect.Model.Engines.Auto;
using MoeDetect.Model.Engines.Cuda;
using MoeDetect.Model.Ilgpu;
using MoeDetect.Model.Loading;
using MoeDetect.Pipeline.Benchmarking;
using static MoeDetect.Tests.Support.ModelOptionsParse;

namespace MoeDetect.Tests.GpuEngine;

/// <summary>--engine auto when loading a model. This machine has no GPU: without one auto changes nothing; where a
/// GPU is named (as <see cref="AutoEngineMachine.This"/> would on a GPU machine) the choice is said, and a model the
/// ILGPU engine cannot compile (checked before any GPU is touched) goes to ONNX Runtime.</summary>
public sealed class AutoEngineLoadingTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("moedetect-auto-").FullName;
    private readonly List<string> _warnings = [];

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Without_a_gpu_device_auto_with_the_default_engine_runs_on_the_cpu_as_before()
    {
        Assert.Null(AutoEngineMachine.This()); // no NVIDIA driver here
        string model = Path.Combine(_folder, "tiny.onnx");
        File.WriteAllBytes(model, TinyDetectorGraph.Build());
        var (options, parse) = Parse("--device", "auto", "--model", model);

        using var loaded = options.Load(parse, _warnings.Add);

        Assert.Equal("onnxruntime-cpu", loaded.Engine.Name);
        Assert.Contains("running on the CPU", Assert.Single(_warnings));
    }

    [Fact]
    public void When_ilgpu_is_chosen_but_cannot_compile_the_model_auto_says_why_and_runs_ort()
    {
        // Softsign: ONNX Runtime runs it, the ILGPU engine has no kernel for it.
        using var loaded = LoadOnTestGpu(TinyDetectorGraph.Build(classActivation: "Softsign"), "softsign.onnx", GpuEngines.Auto,
            new(OrtMsPerFrame: 2.0, IlgpuMsPerFrame: 1.0));

        Assert.Equal(3, _warnings.Count);
        Assert.Equal("engine: ilgpu (auto: faster for softsign.onnx at batch 1 in this machine's bench, 1.000 vs 2.000 ms/frame)", _warnings[0]);
        Assert.StartsWith("warning: --engine auto: ilgpu cannot run softsign.onnx (", _warnings[1]);
        Assert.Contains("operator Softsign", _warnings[1]);
        Assert.EndsWith("; running ort instead", _warnings[1]);
        // This CPU build has no CUDA provider, so ort itself then takes --device auto's way to the CPU.
        Assert.Contains("running on the CPU", _warnings[2]);
        Assert.Equal("onnxruntime-cpu", loaded.Engine.Name);
    }

    [Fact]
    public void When_ort_is_chosen_but_this_build_has_no_cuda_provider_auto_runs_ilgpu()
    {
        using var loaded = LoadOnTestGpu(TinyDetectorGraph.Build(), "tiny.onnx", GpuEngines.Auto, new(OrtMsPerFrame: 1.0, IlgpuMsPerFrame: 2.0));

        // This CPU build has no CUDA provider: ILGPU, which needs only the driver, is what could use a GPU.
        Assert.StartsWith("engine: ilgpu (auto: ort, the choice (faster for tiny.onnx at batch 1 in this machine's bench, 1.000 vs 2.000 ms/frame), " +
            "cannot use the GPU here: this build of MoeDetect has no CUDA provider", _warnings[0]);
        // The GPU named here is not real: ILGPU finds no driver, and --device auto takes the model to the CPU.
        Assert.Contains("running on the CPU", _warnings[^1]);
        Assert.Equal("onnxruntime-cpu", loaded.Engine.Name);
    }

    [Fact]
    public void The_layout_left_to_auto_is_the_one_this_machines_bench_measured_fastest()
    {
        using var loaded = LoadOnTestGpu(TinyDetectorGraph.Build(), "tiny.onnx", GpuEngines.Ort, new(OrtMsPerFrame: 1.0, IlgpuMsPerFrame: 2.0), "nhwc");

        Assert.Equal("cuda layout: nhwc (auto: fastest for tiny.onnx at batch 1 in this machine's bench)", _warnings[0]);
        // This CPU build has no CUDA provider: --device auto then runs the CPU, where the layout does not apply.
        Assert.Contains("running on the CPU", _warnings[1]);
    }

    /// <summary>Loads <paramref name="graph"/> with --device auto as if on "Test GPU", whose bench measured it at batch 1
    /// as <paramref name="times"/> say (<paramref name="layout"/>: ONNX Runtime's fastest layout there).</summary>
    private DetectorModel LoadOnTestGpu(byte[] graph, string fileName, string engine, EngineTimes times, string? layout = null)
    {
        string model = Path.Combine(_folder, fileName);
        File.WriteAllBytes(model, graph);
        string choices = Path.Combine(_folder, "engine-choice.json");
        var fingerprint = ModelFingerprint.Of(model);
        BenchEngineChoices.Record(choices,
            [new MeasuredEngineChoice("Test GPU", fingerprint.FileName, fingerprint.Sha256, 1, times.OrtMsPerFrame, times.IlgpuMsPerFrame, layout)], _warnings.Add);
        return ModelLoader.Load(model, new EngineRequest(ComputeDevice.Auto, engine, Warn: _warnings.Add),
            inputSize: null, AppContext.BaseDirectory, () => new AutoEngineMachine("Test GPU", choices));
    }

    [Fact]
    public void Auto_keeps_nchw_unless_this_gpu_measured_the_model_at_this_batch()
    {
        var measured = new MeasuredEngineChoice("Test GPU", "tiny.onnx", new string('d', 64), 8, 1.0, 2.0, "nhwc-fused-bias");
        var model = new ModelFingerprint("tiny.onnx", new string('d', 64));

        Assert.Equal((ConvolutionLayout.NhwcFusedBias, "fastest for tiny.onnx at batch 8 in this machine's bench"),
            ConvolutionLayoutChooser.Choose(model, 8, "Test GPU", [measured]));
        Assert.Equal((ConvolutionLayout.Nchw, null), ConvolutionLayoutChooser.Choose(model, 1, "Test GPU", [measured]));
        Assert.Equal((ConvolutionLayout.Nchw, null), ConvolutionLayoutChooser.Choose(model, 8, "Other GPU", [measured]));
        Assert.Equal((ConvolutionLayout.Nchw, null), ConvolutionLayoutChooser.Choose(model, 8, "Test GPU", [measured with { OrtLayout = null }]));
    }

    [Fact]
    public void An_explicit_ilgpu_request_still_fails_on_such_a_model()
    {
        string model = Path.Combine(_folder, "softsign.onnx");
        File.WriteAllBytes(model, TinyDetectorGraph.Build(classActivation: "Softsign"));

        var e = Assert.Throws<UnsupportedOperatorException>(() =>
            ModelLoader.Load(model, new EngineRequest(ComputeDevice.Auto, GpuEngines.Ilgpu), inputSize: null, AppContext.BaseDirectory,
                () => new AutoEngineMachine("Test GPU", Path.Combine(_folder, "none.json"))));
        Assert.Contains("Softsign", e.Message);
    }
}
