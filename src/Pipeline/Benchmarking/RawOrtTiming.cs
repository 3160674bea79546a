using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using MoeDetect.Model;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Engines.Cuda;
using MoeDetect.Model.Input;
using MoeDetect.Model.Loading;
using MoeDetect.Pipeline.Timing;

namespace MoeDetect.Pipeline.Benchmarking;

/// <summary>ONNX Runtime's own best mode for a model, the yardstick for the product's ORT path: the unmodified float
/// graph (batch fixed, as CUDA graphs need), input and outputs bound once to buffers in the session's memory (GPU with
/// CUDA graphs on, or host for the CPU provider), and only <c>RunWithBinding</c> timed: no preprocessing, no copies,
/// no decoding. The input holds a real frame, normalised, in every batch slot.</summary>
public static class RawOrtTiming
{
    private const int UntimedRuns = 2;

    public static BenchResult Run(string modelPath, BenchFrames frames, BenchVariant variant, int batch, int frameCount)
    {
        var cuda = variant.Request.Device == ComputeDevice.Cpu ? null : variant.Request.Cuda ?? new CudaSettings();
        if (!modelPath.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
            return Failed(variant, batch, $"not applicable to '{Path.GetFileName(modelPath)}': ONNX Runtime alone is timed for one .onnx graph, " +
                "and a .moedet model runs several with routing between them");
        try
        {
            using var engine = Load(modelPath, frames, cuda, variant.Request.Threads, batch);
            engine.RunAsBound(UntimedRuns);
            int runs = Math.Max(1, (frameCount + batch - 1) / batch);
            var wall = Stopwatch.StartNew();
            engine.RunAsBound(runs);
            double seconds = wall.Elapsed.TotalSeconds;
            var stages = new Dictionary<string, double> { [Stages.Inference] = seconds * 1000 / (runs * batch) };
            return new BenchResult(variant.Name, engine.Name, batch, runs * batch, runs * batch / seconds, stages, BaselineFor: variant.BaselineFor);
        }
        catch (Exception e) when (e is MoeDetectException or OnnxRuntimeException or ArgumentException)
        {
            // ArgumentException: a graph fixed at another batch; ONNX Runtime's: e.g. a CUDA graph that fails to capture.
            return Failed(variant, batch, OrtSessionFactory.FirstLine(e.Message));
        }
    }

    private static OrtBoundEngine Load(string modelPath, BenchFrames frames, CudaSettings? cuda, int threads, int batch)
    {
        var bytes = File.ReadAllBytes(modelPath);
        InputSpec input;
        IReadOnlyList<string> outputs;
        using (var description = OrtSessionFactory.Create(bytes, modelPath, threads: 1, cuda: null, optimise: false))
        {
            var (spec, _, decoder) = OnnxDetectorDescription.Describe(description, modelPath);
            (input, outputs) = (spec, decoder.OutputNames);
        }
        frames.CheckFits(input, "the frames");
        TensorMemory memory = cuda is null ? new HostTensorMemory() : new CudaTensorMemory();
        OrtBoundEngine? engine = null;
        try
        {
            var session = OrtSessionFactory.Create(PixelInputGraph.FixBatch(bytes, input, batch), modelPath, threads, cuda);
            // Each run waits for the GPU: ONNX Runtime's own mode, whatever the product path does.
            engine = new OrtBoundEngine(session, cuda is null ? "ort-cpu-iobinding" : (cuda with { QueuedRuns = false }).EngineName, outputs, input, batch, batch, memory,
                BoundInput.Floats(input));
            FillWithFrames(engine, input, frames, batch);
            return engine;
        }
        catch
        {
            engine?.Dispose(); // disposes the memory too
            memory.Dispose();
            throw;
        }
    }

    /// <summary>Real pixels rather than zeros, so data-dependent work (top-k, peaks) is what it is on video.</summary>
    private static void FillWithFrames(OrtBoundEngine engine, InputSpec input, BenchFrames frames, int batch)
    {
        var floats = new float[batch * input.ValuesPerImage];
        for (int i = 0; i < batch; i++)
            PixelTensor.Write(input, frames.Canvases[i % frames.Count], floats.AsSpan(i * input.ValuesPerImage, input.ValuesPerImage));
        engine.LoadInput<float>(floats);
    }

    private static BenchResult Failed(BenchVariant variant, int batch, string error) =>
        new(variant.Name, "", batch, 0, 0, new Dictionary<string, double>(), error, variant.BaselineFor);
}
