using MoeDetect.Model.Engines;
using MoeDetect.Model.Engines.Auto;
using MoeDetect.Model.Engines.Cuda;

namespace MoeDetect.Model.Loading;

/// <summary>What <c>--engine auto</c> knows of the machine: the GPU the model would run on and the file of this
/// machine's own engine measurements.</summary>
internal sealed record AutoEngineMachine(string Gpu, string ChoiceFile)
{
    /// <summary>Null without an NVIDIA GPU: auto then has nothing to choose between, and the ONNX Runtime path treats
    /// <c>--device</c> as it always has (an error for gpu, the CPU with a warning for auto).</summary>
    public static AutoEngineMachine? This() =>
        CudaRuntime.FindDeviceName() is { } gpu ? new(gpu, EngineChoiceFile.DefaultPath()) : null;
}

/// <summary><c>--engine auto</c> on a GPU: runs the engine <see cref="GpuEngineChooser"/> picked for the model file and
/// batch, says which and why on the request's warning channel, and where that is the ILGPU engine and it cannot take
/// the model, runs ONNX Runtime instead. Where ONNX Runtime was picked but its CUDA provider cannot run on this machine
/// (the CPU build, which leaves the provider out, or missing CUDA libraries), the ILGPU engine runs instead: it needs
/// only the driver, and ONNX Runtime would otherwise take the model to the CPU.</summary>
internal static class AutoEngine
{
    /// <param name="applicationFolder">Where this build's native ONNX Runtime libraries are.</param>
    /// <param name="load">Loads the model with the engine the request names.</param>
    public static DetectorModel Load(string path, EngineRequest request, EngineChoice choice, string applicationFolder, Func<EngineRequest, DetectorModel> load)
    {
        if (choice.Engine == GpuEngines.Ort && CudaLibraries.FindMissing(applicationFolder) is { } missing)
            choice = new(GpuEngines.Ilgpu, $"ort, the choice ({choice.Reason}), cannot use the GPU here: {missing}");
        request.Warn?.Invoke($"engine: {choice.Engine} (auto: {choice.Reason})");
        if (choice.Engine == GpuEngines.Ort) return load(request with { Engine = GpuEngines.Ort });
        try
        {
            return load(request with { Engine = GpuEngines.Ilgpu });
        }
        catch (MoeDetectException e)
        {
            // An operator the ILGPU engine lacks, an input size it cannot take: ONNX Runtime runs every model.
            request.Warn?.Invoke($"warning: --engine auto: ilgpu cannot run {Path.GetFileName(path)} ({e.Message}); running ort instead");
            return load(request with { Engine = GpuEngines.Ort });
        }
    }
}
