using System.CommandLine;
using MoeDetect.Model;
using MoeDetect.Model.Decoding;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Engines.Cuda;
using MoeDetect.Model.Loading;

namespace MoeDetect.Cli.Commands;

/// <summary>The options every model-running verb shares (detect, eval, serve, bench), and turning them into a
/// loaded model and decode settings.</summary>
public sealed class ModelOptions
{
    public Option<string?> Model { get; } = new("--model", "-m") { Description = "Model file (.onnx or .moedet). Default: the bundled model in models/" };
    public Option<ComputeDevice> Device { get; } = new("--device") { Description = "Where to run: cpu, gpu, or auto (GPU when usable, else CPU with a warning)", DefaultValueFactory = _ => ComputeDevice.Cpu };
    public Option<string> Engine { get; } = new("--engine")
    {
        Description = "GPU engine: ort (ONNX Runtime CUDA), ilgpu, or auto: the faster of the two for the model file and batch as this " +
            "machine's `moedetect bench --device gpu` timed them, else as the project's H100 bench did (ilgpu for the bundled CenterNet and for .moedet models at batch 1-4, ort otherwise); ilgpu wherever ort cannot use the GPU (a build without the CUDA provider)",
        DefaultValueFactory = _ => GpuEngines.Auto,
    };
    public Option<float> Confidence { get; } = new("--conf") { Description = "Minimum detection score (0–1)", DefaultValueFactory = _ => 0.25f };
    public Option<float> Iou { get; } = new("--iou") { Description = "IoU threshold of class-aware non-maximum suppression (0–1)", DefaultValueFactory = _ => 0.6f };
    public Option<string?> Classes { get; } = new("--classes") { Description = "Classes to keep, by name or id, comma-separated (e.g. person,car or 0,2). Default: all" };
    public Option<int?> InputSize { get; } = new("--imgsz") { Description = "Network input size in pixels (models with a dynamic input only; multiple of 32)" };
    public Option<int> MaxDetections { get; } = new("--max-det") { Description = "Most detections kept per frame", DefaultValueFactory = _ => 100 };
    public Option<double?> Hysteresis { get; } = new("--route-hysteresis") { Description = "ES-MoE models: video hysteresis margin that damps route flapping between frames of one stream (default: the model's; 0 turns it off)" };
    public Option<int> Threads { get; } = new("--threads") { Description = "CPU inference threads (0 = all cores)", DefaultValueFactory = _ => 0 };
    public Option<int?> GpuMemoryLimit { get; } = new("--gpu-mem-limit") { Description = "GPU: cap on ONNX Runtime's GPU memory arena in MB (its gpu_mem_limit). Default: no cap" };
    public Option<ConvolutionSearch> CudnnSearch { get; } = new("--cudnn-search") { Description = "GPU: how cuDNN picks convolution algorithms at load: exhaustive (slow start, fastest), heuristic or default", DefaultValueFactory = _ => ConvolutionSearch.Exhaustive };
    public Option<ConvolutionLayout> CudaLayout { get; } = new("--cuda-layout")
    {
        Description = "GPU (ORT): how ONNX Runtime runs convolutions: nchw (the graph's), nhwc (no layout conversion around cuDNN's tensor-core convolutions), nhwc-fused-bias (and the bias added inside them), or auto (what moedetect bench measured fastest for the model on this GPU, else nchw)",
        DefaultValueFactory = _ => ConvolutionLayout.Auto,
        CustomParser = r => ConvolutionLayouts.Parse(r.Tokens[^1].Value) ?? Refuse(r),
    };

    public Option<string> CudaRuns { get; } = new("--cuda-runs")
    {
        Description = "GPU (ORT): queued (the engine owns the stream ONNX Runtime runs on and queues a batch's copies and run on it without waiting; " +
            "the host waits once per batch, for its boxes) or synced (each run waits for the GPU, as ONNX Runtime does by default)",
        DefaultValueFactory = _ => "queued",
    };

    private static ConvolutionLayout Refuse(System.CommandLine.Parsing.ArgumentResult r)
    {
        r.AddError($"--cuda-layout must be auto, nchw, nhwc or nhwc-fused-bias, not '{r.Tokens[^1].Value}'");
        return ConvolutionLayout.Auto;
    }

    public ModelOptions()
    {
        Confidence.Validators.Add(r => { if (r.GetValue(Confidence) is < 0 or > 1) r.AddError("--conf must be between 0 and 1"); });
        Iou.Validators.Add(r => { if (r.GetValue(Iou) is < 0 or > 1) r.AddError("--iou must be between 0 and 1"); });
        MaxDetections.Validators.Add(r => { if (r.GetValue(MaxDetections) < 1) r.AddError("--max-det must be at least 1"); });
        Hysteresis.Validators.Add(r => { if (r.GetValue(Hysteresis) is < 0 or > 1) r.AddError("--route-hysteresis must be between 0 and 1"); });
        Threads.Validators.Add(r => { if (r.GetValue(Threads) < 0) r.AddError("--threads must be 0 or more"); });
        GpuMemoryLimit.Validators.Add(r =>
        {
            // The token itself: GetValue throws on one that is not a number.
            if (r.Tokens.Count > 0 && !(int.TryParse(r.Tokens[^1].Value, out int mb) && mb is >= 1 and <= CudaSettings.MaxMemoryLimitMb))
                r.AddError($"--gpu-mem-limit must be a whole number of MB from 1 to {CudaSettings.MaxMemoryLimitMb} (e.g. --gpu-mem-limit 4096)");
        });
        CudaRuns.Validators.Add(r =>
        {
            if (r.GetValue(CudaRuns) is not ("synced" or "queued")) r.AddError($"--cuda-runs must be synced or queued, not '{r.GetValue(CudaRuns)}'");
        });
        Engine.Validators.Add(r =>
        {
            if (r.GetValue(Engine) is { } e && !GpuEngines.All.Contains(e))
                r.AddError($"--engine must be {GpuEngines.Ort}, {GpuEngines.Ilgpu} or {GpuEngines.Auto}, not '{e}'");
        });
    }

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Model, Device, Engine, Confidence, Iou, Classes, InputSize, MaxDetections, Threads, Hysteresis, CudnnSearch, CudaLayout, CudaRuns, GpuMemoryLimit })
            command.Options.Add(option);
    }

    /// <param name="batch">Frames per inference batch; GPU engines fix their shapes to it.</param>
    public DetectorModel Load(ParseResult parse, Action<string> warn, int batch = 1) =>
        ModelLoader.Load(ModelPath(parse), Request(parse, warn, batch), parse.GetValue(InputSize));

    public string ModelPath(ParseResult parse) => parse.GetValue(Model) ?? DefaultModel.Resolve();

    public EngineRequest Request(ParseResult parse, Action<string> warn, int batch = 1)
    {
        var device = parse.GetValue(Device);
        var memoryLimit = parse.GetValue(GpuMemoryLimit);
        if (memoryLimit is not null && device == ComputeDevice.Cpu)
            warn("warning: --gpu-mem-limit applies to the GPU only; ignored with --device cpu");
        return new(device, parse.GetValue(Engine)!, parse.GetValue(Threads), warn, batch,
            new CudaSettings(Search: parse.GetValue(CudnnSearch), MemoryLimitMb: memoryLimit, Layout: parse.GetValue(CudaLayout),
                QueuedRuns: parse.GetValue(CudaRuns) == "queued"),
            parse.GetValue(Hysteresis));
    }

    public DecodeOptions Decode(ParseResult parse, DetectorModel model, float? confidenceOverride = null) => new(
        confidenceOverride ?? parse.GetValue(Confidence), parse.GetValue(Iou), parse.GetValue(MaxDetections),
        ResolveClasses(parse.GetValue(Classes), model.ClassNames));

    /// <summary>The --batch option of the verbs that run one batch size (detect, eval).</summary>
    public static Option<int> BatchOption(string description)
    {
        var batch = new Option<int>("--batch") { Description = description, DefaultValueFactory = _ => 1 };
        batch.Validators.Add(r => { if (r.GetValue(batch) is < 1 or > 256) r.AddError("--batch must be between 1 and 256"); });
        return batch;
    }

    public static IReadOnlySet<int>? ResolveClasses(string? text, IReadOnlyList<string> names)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var ids = new HashSet<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (int.TryParse(part, out int id) && id >= 0 && id < names.Count) { ids.Add(id); continue; }
            int index = names.ToList().FindIndex(n => string.Equals(n, part, StringComparison.OrdinalIgnoreCase));
            if (index < 0)
                throw new MoeDetectException($"--classes: '{part}' is not a class of this model (its classes: {string.Join(", ", names.Take(12))}{(names.Count > 12 ? ", …" : "")})");
            ids.Add(index);
        }
        return ids;
    }
}
