using MoeDetect.Model.Engines;
using MoeDetect.Model.Ilgpu;
using MoeDetect.Model.Loading;
using MoeDetect.Tests.Kernels;
using MoeDetect.Tests.Support;
using Xunit;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>What users see when the GPU is missing: an error naming the fix for --device gpu, a warning and no
/// engine (so the caller falls back) for --device auto. On a machine with a CUDA GPU the engine simply loads.</summary>
public sealed class DeviceFaultTests
{
    [Fact]
    public void Missing_gpu_is_an_error_for_gpu_and_a_warning_for_auto()
    {
        var model = LetterboxKernelTests.IdentityGraph();
        var warnings = new List<string>();
        using var auto = IlgpuEngine.ForRequest(model, "identity", new EngineRequest(ComputeDevice.Auto, "ilgpu", Warn: warnings.Add), ["y"]);
        if (auto is not null)
        {
            Assert.StartsWith("ilgpu-cuda", auto.Name);
            return;
        }
        Assert.Contains(warnings, w => w.Contains("no NVIDIA GPU") && w.Contains("running on the CPU"));
        var e = Assert.Throws<GpuUnavailableException>(() =>
            IlgpuEngine.ForRequest(model, "identity", new EngineRequest(ComputeDevice.Gpu, "ilgpu"), ["y"]));
        Assert.Contains("--device cpu", e.Message);
    }

    [Fact]
    public void Model_loader_routes_engine_ilgpu_to_the_ilgpu_engine_or_falls_back_on_auto()
    {
        var warnings = new List<string>();
        using var model = ModelLoader.Load(TestPaths.DefaultModel, new EngineRequest(ComputeDevice.Auto, "ilgpu", Warn: warnings.Add));
        if (model.Engine.Name.StartsWith("ilgpu-cuda")) return;
        Assert.Equal("onnxruntime-cpu", model.Engine.Name);
        Assert.Contains(warnings, w => w.Contains("no NVIDIA GPU"));
        Assert.Throws<GpuUnavailableException>(() => ModelLoader.Load(TestPaths.DefaultModel, new EngineRequest(ComputeDevice.Gpu, "ilgpu")));
    }

    [Fact]
    public void Asking_for_an_output_the_graph_lacks_fails_at_load()
    {
        var e = Assert.Throws<MoeDetect.Model.InvalidModelException>(() =>
            IlgpuEngine.Load(LetterboxKernelTests.IdentityGraph(), "identity", IlgpuTarget.CpuAccelerator, outputNames: ["detections"]));
        Assert.Contains("no output detections", e.Message);
    }
}
