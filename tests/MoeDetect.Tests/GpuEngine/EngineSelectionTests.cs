using MoeDetect.Model;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Engines.Cuda;
using MoeDetect.Model.Loading;
using Xunit;

namespace MoeDetect.Tests.GpuEngine;

/// <summary>Device and engine choice on this machine, which has a CPU-only build and no CUDA: --device gpu fails
/// naming what is missing, --device auto warns and runs on the CPU.</summary>
public sealed class EngineSelectionTests : IDisposable
{
    private readonly string _model = Path.Combine(Path.GetTempPath(), $"moedetect-select-{Guid.NewGuid():N}.onnx");
    private readonly string _folderWithProvider = Directory.CreateTempSubdirectory("moedetect-gpu-build-").FullName;

    public EngineSelectionTests()
    {
        File.WriteAllBytes(_model, TinyDetectorGraph.Build());
        // Stands in for the GPU build's provider file, so that the check goes on to the CUDA libraries themselves.
        File.WriteAllBytes(Path.Combine(_folderWithProvider, CudaLibraries.ProviderFile), []);
    }

    public void Dispose()
    {
        File.Delete(_model);
        Directory.Delete(_folderWithProvider, recursive: true);
    }

    [Fact]
    public void Gpu_request_in_a_cpu_build_names_the_gpu_build()
    {
        var e = Assert.Throws<MoeDetectException>(() => ModelLoader.Load(_model, new EngineRequest(ComputeDevice.Gpu)));
        Assert.Contains("no CUDA provider", e.Message);
        Assert.Contains("-p:MoeDetectGpu=true", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Auto_request_without_a_usable_gpu_warns_once_and_runs_on_the_cpu()
    {
        var warnings = new List<string>();
        using var model = ModelLoader.Load(_model, new EngineRequest(ComputeDevice.Auto, Warn: warnings.Add));
        Assert.Equal("onnxruntime-cpu", model.Engine.Name);
        var warning = Assert.Single(warnings);
        Assert.Contains("running on the CPU", warning);
        Assert.Contains("no CUDA provider", warning);
    }

    [Fact]
    public void Gpu_build_on_a_machine_without_cuda_names_the_missing_library_and_how_to_install_it()
    {
        // This machine has no NVIDIA driver: the first library missing is the driver's.
        var e = Assert.Throws<MoeDetectException>(() =>
            ModelLoader.Load(_model, new EngineRequest(ComputeDevice.Gpu), inputSize: null, applicationFolder: _folderWithProvider));
        Assert.Contains("libcuda.so.1 not found", e.Message);
        Assert.Contains("NVIDIA driver", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Missing_cudnn_is_named_with_its_package()
    {
        var cudnn = CudaLibraries.Required.Single(r => r.Library.StartsWith("libcudnn"));
        string? missing = CudaLibraries.FindMissing(_folderWithProvider, [("libc.so.6", "present everywhere"), cudnn]);
        Assert.Equal("libcudnn.so.9 not found: " + cudnn.Install, missing);
        Assert.Contains("libcudnn9-cuda-13", missing);
    }

    [Fact]
    public void Present_libraries_pass_the_check()
    {
        Assert.Null(CudaLibraries.FindMissing(_folderWithProvider, [("libc.so.6", "present everywhere"), ("libm.so.6", "present everywhere")]));
    }

    [Fact]
    public void Ilgpu_request_without_a_cuda_device_names_the_engine()
    {
        // This machine has no GPU; where one exists the ILGPU engine loads instead (DeviceFaultTests covers both).
        var e = Assert.ThrowsAny<MoeDetectException>(() => ModelLoader.Load(_model, new EngineRequest(ComputeDevice.Gpu, "ilgpu")));
        Assert.Contains("--engine ilgpu", e.Message);
    }

    [Theory]
    [InlineData("CUDA failure 2: out of memory ; GPU=0 ; hostname=h ; file=cuda_allocator.cc ; line=50 ; expr=cudaMalloc((void**)&p, size);")]
    [InlineData("Failed to allocate memory for requested buffer of size 1073741824")]
    [InlineData("CUDNN failure 4: CUDNN_STATUS_ALLOC_FAILED ; GPU=0")]
    public void Out_of_gpu_memory_becomes_an_error_naming_the_batch_to_lower(string onnxRuntimeMessage)
    {
        var cause = new InvalidOperationException(onnxRuntimeMessage);
        Assert.True(GpuOutOfMemory.Matches(cause));
        var error = GpuOutOfMemory.Error(32, cause);
        Assert.Equal("out of GPU memory with batches of 32 frames: lower --batch (try --batch 16)", error.Message);
    }

    [Fact]
    public void Other_failures_are_not_taken_for_out_of_memory()
    {
        Assert.False(GpuOutOfMemory.Matches(new InvalidOperationException("CUDA failure 100: no CUDA-capable device is detected")));
    }
}
