using Microsoft.ML.OnnxRuntime;
using MoeDetect.Model.Engines.Cuda;

namespace MoeDetect.Model.Engines;

/// <summary>Creates ONNX Runtime sessions on the requested device. The CUDA execution provider ships only in the
/// GPU build (its native provider library is hundreds of MB) and needs CUDA and cuDNN on the machine; when either
/// is missing, <see cref="ComputeDevice.Gpu"/> fails naming what is missing and <see cref="ComputeDevice.Auto"/>
/// warns and falls back to the CPU.</summary>
public static class OrtSessionFactory
{
    /// <summary>Diagnostics: when set, every session writes ONNX Runtime's per-node profile (JSON, kernel times per
    /// execution provider) to files starting with this path, e.g. to see which nodes dominate on the GPU.</summary>
    public const string ProfileVariable = "MOEDETECT_ORT_PROFILE";

    /// <summary>Whether the request runs on the GPU, given what the program folder and the machine offer.</summary>
    public static bool UseGpu(EngineRequest request, string applicationFolder)
    {
        if (request.Device == ComputeDevice.Cpu) return false;
        string? missing = CudaLibraries.FindMissing(applicationFolder);
        if (missing is null) return true;
        if (request.Device == ComputeDevice.Gpu)
            throw new MoeDetectException($"--device gpu: {missing}; or use --device cpu");
        FallBack(request, missing);
        return false;
    }

    public static void FallBack(EngineRequest request, string reason) =>
        request.Warn?.Invoke($"warning: --device auto: no usable GPU ({reason}); running on the CPU");

    /// <summary>A session for one of an MoE model's graphs on the requested device, GPU ones with host tensors; for
    /// <see cref="ComputeDevice.Auto"/> without a usable GPU, warns and uses the CPU.</summary>
    public static (InferenceSession Session, string EngineName) Create(byte[] model, string modelLabel, EngineRequest request)
    {
        if (!UseGpu(request, AppContext.BaseDirectory))
            return (Create(model, modelLabel, request.Threads, cuda: null, idleSpinning: false), "onnxruntime-cpu");
        var cuda = (request.Cuda ?? new CudaSettings()) with { DeviceBinding = false, CudaGraphs = false };
        return (Create(model, modelLabel, request.Threads, cuda, idleSpinning: false), "onnxruntime-cuda");
    }

    /// <param name="cuda">Null for the CPU execution provider.</param>
    /// <param name="optimise">False for sessions used only to read a graph's description.</param>
    /// <param name="idleSpinning">False where many sessions run one after another (the pieces of an MoE model): an
    /// idle session's threads then sleep instead of spinning (2.4× faster ES-MoE on 2 CPU cores; a single model
    /// keeps ONNX Runtime's spinning, which is faster for it).</param>
    /// <param name="computeStream">A CUDA stream of the caller's for ONNX Runtime to run on (<see cref="CudaSettings.QueuedRuns"/>); 0: its own.</param>
    public static InferenceSession Create(byte[] model, string modelLabel, int threads, CudaSettings? cuda, bool optimise = true, bool idleSpinning = true,
        nint computeStream = 0)
    {
        var options = new SessionOptions
        {
            GraphOptimizationLevel = optimise ? GraphOptimizationLevel.ORT_ENABLE_ALL : GraphOptimizationLevel.ORT_DISABLE_ALL,
            // ONNX Runtime's warnings (node placement, memcpy insertion) would drown the progress and tables; errors still surface.
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        try
        {
            if (threads > 0) options.IntraOpNumThreads = threads;
            // Dozens of sessions (an MoE model's pieces) each with a thread pool spinning while idle keep each other off the cores.
            if (!idleSpinning) options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
            if (optimise && Environment.GetEnvironmentVariable(ProfileVariable) is { Length: > 0 } prefix)
            {
                options.ProfileOutputPathPrefix = prefix; // read when profiling is switched on, so first
                options.EnableProfiling = true;
            }
            if (optimise) model = PadFolding.Apply(model);
            if (cuda is not null)
            {
                model = TwoStageTopK.Rewrite(model, modelLabel);
                using var provider = new OrtCUDAProviderOptions();
                provider.UpdateOptions(cuda.ProviderOptions(computeStream));
                options.AppendExecutionProvider_CUDA(provider);
            }
            return new InferenceSession(model, options);
        }
        catch (OnnxRuntimeException e) when (cuda is not null)
        {
            // Not an InvalidModelException: the same model may well load on the CPU (where --device auto goes next).
            throw new MoeDetectException($"ONNX Runtime could not start '{modelLabel}' on the GPU: {FirstLine(e.Message)}", e);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidModelException($"'{modelLabel}' is not a valid ONNX model: {FirstLine(e.Message)}", e);
        }
        finally
        {
            options.Dispose();
        }
    }

    public static string FirstLine(string text) => text.Split('\n', 2)[0].Trim();
}
