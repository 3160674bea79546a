using Microsoft.ML.OnnxRuntime;

namespace MoeDetect.Model.Engines;

/// <summary>Creates ONNX Runtime sessions on the requested device. The CUDA execution provider ships only in the
/// GPU build (its native provider library is hundreds of MB); asking for it elsewhere fails with a clear message,
/// or falls back to the CPU with a warning for <see cref="ComputeDevice.Auto"/>.</summary>
public static class OrtSessionFactory
{
    public static (InferenceSession Session, string EngineName) Create(byte[] model, string modelLabel, EngineRequest request)
    {
        if (request.Device != ComputeDevice.Cpu)
        {
            var options = BaseOptions(request);
            string? failure = TryAppendCuda(options);
            if (failure is null) return (NewSession(model, modelLabel, options), "onnxruntime-cuda");
            options.Dispose();
            if (request.Device == ComputeDevice.Gpu)
                throw new MoeDetectException($"--device gpu: {failure}. Install the GPU build (README, section GPU) or use --device cpu.");
            request.Warn?.Invoke($"warning: no usable GPU ({failure}); running on the CPU");
        }
        return (NewSession(model, modelLabel, BaseOptions(request)), "onnxruntime-cpu");
    }

    private static SessionOptions BaseOptions(EngineRequest request)
    {
        var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        if (request.Threads > 0) options.IntraOpNumThreads = request.Threads;
        return options;
    }

    private static string? TryAppendCuda(SessionOptions options)
    {
        try
        {
            options.AppendExecutionProvider_CUDA(0);
            return null;
        }
        catch (Exception e) when (e is OnnxRuntimeException or DllNotFoundException or EntryPointNotFoundException)
        {
            return "ONNX Runtime's CUDA execution provider is not available (" + FirstLine(e.Message) + ")";
        }
    }

    private static InferenceSession NewSession(byte[] model, string modelLabel, SessionOptions options)
    {
        try
        {
            return new InferenceSession(model, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidModelException($"'{modelLabel}' is not a valid ONNX model: {FirstLine(e.Message)}", e);
        }
    }

    internal static string FirstLine(string text) => text.Split('\n', 2)[0].Trim();
}
