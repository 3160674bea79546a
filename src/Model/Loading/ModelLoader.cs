using Microsoft.ML.OnnxRuntime;
using MoeDetect.Model.Decoding;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Engines.Auto;
using MoeDetect.Model.Engines.Cuda;
using MoeDetect.Model.Input;
using MoeDetect.Model.Moe;

namespace MoeDetect.Model.Loading;

/// <summary>The one door models come in through: checks the file, picks the loader for its kind and the engine
/// for the requested device.</summary>
public static class ModelLoader
{
    public static DetectorModel Load(string path, EngineRequest request, int? inputSize = null) =>
        Load(path, request, inputSize, AppContext.BaseDirectory);

    /// <param name="applicationFolder">Where the native ONNX Runtime libraries of this build are.</param>
    public static DetectorModel Load(string path, EngineRequest request, int? inputSize, string applicationFolder) =>
        Load(path, request, inputSize, applicationFolder, AutoEngineMachine.This);

    /// <param name="findMachine">For <c>--engine auto</c> off the CPU: the GPU and this machine's engine choices, or
    /// null without a GPU.</param>
    internal static DetectorModel Load(string path, EngineRequest request, int? inputSize, string applicationFolder, Func<AutoEngineMachine?> findMachine)
    {
        if (!File.Exists(path))
            throw new InvalidModelException($"model file not found: {path} (pass --model <file.onnx>, or omit --model to use the default model)");
        var extension = System.IO.Path.GetExtension(path).ToLowerInvariant();
        if (extension is not (".moedet" or ".onnx"))
            throw new InvalidModelException($"unsupported model file '{path}': expected an ONNX model (.onnx) or a MoeDetect model (.moedet)");
        DetectorModel LoadWithEngine(EngineRequest named) =>
            extension == ".moedet" ? MoeModelLoader.Load(path, named) : LoadOnnxFile(path, named, inputSize, applicationFolder);
        bool gpu = request.Device != ComputeDevice.Cpu;
        bool autoEngine = gpu && request.Engine == GpuEngines.Auto;
        bool autoLayout = gpu && (request.Cuda?.Layout ?? ConvolutionLayout.Auto) == ConvolutionLayout.Auto;
        var machine = autoEngine || autoLayout ? findMachine() : null;
        if (machine is null) return LoadWithEngine(autoLayout ? WithLayout(request, (ConvolutionLayout.Nchw, null)) : request);
        // Read once for both auto choices: the model file's hash and this machine's bench measurements.
        var (model, measured, batch) = (ModelFingerprint.Of(path), EngineChoiceFile.Read(machine.ChoiceFile, request.Warn), Math.Max(1, request.Batch));
        if (autoLayout) request = WithLayout(request, ConvolutionLayoutChooser.Choose(model, batch, machine.Gpu, measured));
        return autoEngine ? AutoEngine.Load(path, request, GpuEngineChooser.Choose(model, batch, machine.Gpu, measured), applicationFolder, LoadWithEngine) : LoadWithEngine(request);
    }

    /// <summary><c>--cuda-layout auto</c> made concrete, since ONNX Runtime's provider takes one layout
    /// (<see cref="ConvolutionLayoutChooser"/>); said on the warning channel where a measurement chose other than NCHW.</summary>
    private static EngineRequest WithLayout(EngineRequest request, (ConvolutionLayout Layout, string? Reason) chosen)
    {
        if (chosen.Layout != ConvolutionLayout.Nchw) request.Warn?.Invoke($"cuda layout: {ConvolutionLayouts.Name(chosen.Layout)} (auto: {chosen.Reason})");
        return request with { Cuda = (request.Cuda ?? new CudaSettings()) with { Layout = chosen.Layout } };
    }

    /// <summary>An <c>.onnx</c> file on the engine the request names: ilgpu on a GPU, otherwise ONNX Runtime.</summary>
    private static DetectorModel LoadOnnxFile(string path, EngineRequest request, int? inputSize, string applicationFolder)
    {
        var bytes = File.ReadAllBytes(path);
        if (request.Engine == GpuEngines.Ilgpu && request.Device != ComputeDevice.Cpu)
            return LoadIlgpu(bytes, path, request, inputSize) ?? LoadOnnx(bytes, path, request, inputSize, cuda: null);
        if (!OrtSessionFactory.UseGpu(request, applicationFolder))
            return LoadOnnx(bytes, path, request, inputSize, cuda: null);
        try
        {
            return LoadOnnx(bytes, path, request, inputSize, request.Cuda ?? new CudaSettings());
        }
        catch (MoeDetectException e) when (request.Device == ComputeDevice.Auto && e is not InvalidModelException)
        {
            OrtSessionFactory.FallBack(request, e.Message);
            return LoadOnnx(bytes, path, request, inputSize, cuda: null);
        }
    }

    /// <summary>--engine ilgpu: ONNX Runtime (CPU) only describes the model; the ILGPU engine runs it, fed 8-bit canvases
    /// that it normalises on the device (<see cref="Ilgpu.IlgpuPixelEngine"/>), with the <see cref="CandidateGraph"/>
    /// of dense-output heads so that only candidate rows are downloaded. Null when
    /// --device auto finds no GPU (already warned), so the caller runs the CPU engine.</summary>
    private static DetectorModel? LoadIlgpu(byte[] bytes, string path, EngineRequest request, int? inputSize)
    {
        var (graph, input, names, decoder) = IlgpuGraph(bytes, path);
        if (inputSize is { } size && (size != input.Width || size != input.Height))
            throw new MoeDetectException($"--engine ilgpu runs '{path}' at its own input size {input.Width}x{input.Height}; drop the input size option or use --engine ort");
        var engine = Ilgpu.IlgpuEngine.ForRequest(graph, path, request, decoder.OutputNames);
        if (engine is null) return null;
        try
        {
            return new DetectorModel(path, input, names, decoder, new Ilgpu.IlgpuPixelEngine(engine, input, Math.Max(1, request.Batch)), isMixtureOfExperts: false);
        }
        catch
        {
            engine.Dispose();
            throw;
        }
    }

    /// <summary>The graph the ILGPU engine runs for an ONNX detector (described by ONNX Runtime on the CPU, with the
    /// <see cref="CandidateGraph"/> of dense-output heads), its input, class names and the decoder of its outputs.</summary>
    public static (byte[] Graph, InputSpec Input, IReadOnlyList<string> ClassNames, IDetectionDecoder Decoder) IlgpuGraph(byte[] bytes, string path)
    {
        using var session = OrtSessionFactory.Create(bytes, path, threads: 1, cuda: null, optimise: false);
        var (input, names, decoder) = OnnxDetectorDescription.Describe(session, path);
        var (graph, candidates) = CandidateGraph.Rewrite(bytes, decoder);
        return (graph, input, names, candidates);
    }

    /// <summary>What the model takes as input, read without making an engine (to prepare frames for it).</summary>
    public static InputSpec DescribeInput(string path)
    {
        if (!File.Exists(path)) throw new InvalidModelException($"model file not found: {path}");
        if (System.IO.Path.GetExtension(path).Equals(".moedet", StringComparison.OrdinalIgnoreCase))
            return MoeModelLoader.Input(MoeModelFile.Open(path));
        using var session = OrtSessionFactory.Create(File.ReadAllBytes(path), path, threads: 1, cuda: null, optimise: false);
        return OnnxDetectorDescription.Describe(session, path).Input;
    }

    /// <summary>The CPU and host-tensor CUDA engines run the graph as it is, on float input; the device-bound CUDA
    /// engine runs its <see cref="PixelInputGraph"/> on 8-bit canvases and sends back only the
    /// <see cref="CandidateGraph"/> rows of dense-output heads.</summary>
    private static DetectorModel LoadOnnx(byte[] bytes, string path, EngineRequest request, int? inputSize, CudaSettings? cuda)
    {
        bool bound = cuda is { DeviceBinding: true };
        var session = OrtSessionFactory.Create(bytes, path, request.Threads, bound ? null : cuda, optimise: !bound);
        try
        {
            var (input, names, decoder) = OnnxDetectorDescription.Describe(session, path);
            if (inputSize is { } size && (size != input.Width || size != input.Height))
                input = OnnxDetectorDescription.Resize(session, input, size, path);
            IInferenceEngine engine;
            if (bound)
            {
                int graphBatch = PixelInputGraph.FixedBatch(bytes, input) ?? request.Batch;
                if (cuda!.CudaGraphs && OrtBoundEngine.StaticOutputShapes(session.OutputMetadata, decoder.OutputNames, graphBatch) is null)
                {
                    request.Warn?.Invoke("warning: the model's outputs have open dimensions besides the batch; running without CUDA graphs");
                    cuda = cuda with { CudaGraphs = false };
                }
                (var candidateGraph, decoder) = CandidateGraph.Rewrite(bytes, decoder);
                engine = CreateCudaBound(candidateGraph, path, request, input, decoder.OutputNames, cuda);
                session.Dispose();
            }
            else
            {
                engine = new OrtEngine(session, cuda?.EngineName ?? "onnxruntime-cpu", decoder.OutputNames);
                if (cuda is not null) Warm(engine, input, request.Batch);
            }
            return new DetectorModel(path, input, names, decoder, engine, isMixtureOfExperts: false);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>An <see cref="OrtBoundEngine"/> over the pixel-input form of the graph, batch fixed to the request's
    /// (or 1 where the graph fixes it). Takes ownership of <paramref name="memory"/>.</summary>
    /// <param name="queuedRuns">Queue each batch's copies and runs on a stream of the engine's; null: as
    /// <paramref name="cuda"/> says (<see cref="CudaSettings.QueuesRuns"/>), not on the CPU.</param>
    public static OrtBoundEngine CreateBound(byte[] bytes, string path, EngineRequest request, InputSpec input,
        IReadOnlyList<string> outputNames, CudaSettings? cuda, TensorMemory memory, bool? queuedRuns = null)
    {
        CopyStream? runs = null;
        try
        {
            int graphBatch = PixelInputGraph.FixedBatch(bytes, input) ?? request.Batch;
            var pixelGraph = PixelInputGraph.Rewrite(bytes, input, graphBatch);
            runs = (queuedRuns ?? cuda?.QueuesRuns ?? false) ? memory.OpenCopyStream(OrtBoundEngine.RunMarks) : null;
            var session = OrtSessionFactory.Create(pixelGraph, path, request.Threads, cuda, computeStream: runs?.Handle ?? 0);
            return new OrtBoundEngine(session, cuda?.EngineName ?? "ort-cpu-iobinding", outputNames, input, request.Batch, graphBatch, memory, runs: runs);
        }
        catch
        {
            runs?.Dispose();
            memory.Dispose();
            throw;
        }
    }

    /// <summary>CUDA graphs fail to capture on graphs with CPU-only nodes; such a model still runs, without them.</summary>
    private static OrtBoundEngine CreateCudaBound(byte[] bytes, string path, EngineRequest request, InputSpec input,
        IReadOnlyList<string> outputNames, CudaSettings cuda)
    {
        try
        {
            return CreateBound(bytes, path, request, input, outputNames, cuda, new CudaTensorMemory());
        }
        catch (OnnxRuntimeException e) when (cuda.CudaGraphs)
        {
            request.Warn?.Invoke($"warning: CUDA graph capture failed ({OrtSessionFactory.FirstLine(e.Message)}); running without CUDA graphs");
            return CreateBound(bytes, path, request, input, outputNames, cuda with { CudaGraphs = false }, new CudaTensorMemory());
        }
    }

    /// <summary>The first GPU runs pick cuDNN algorithms and fill memory arenas; do that at load, not on the first frame.</summary>
    private static void Warm(IInferenceEngine engine, InputSpec input, int batch)
    {
        try
        {
            engine.Run(new float[batch * input.ValuesPerImage], batch);
        }
        catch (OnnxRuntimeException e) when (GpuOutOfMemory.Matches(e))
        {
            throw GpuOutOfMemory.Error(batch, e);
        }
    }
}
