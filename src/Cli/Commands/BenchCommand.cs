using System.CommandLine;
using Spectre.Console;
using MoeDetect.Model;
using MoeDetect.Model.Decoding;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Engines.Auto;
using MoeDetect.Model.Engines.Cuda;
using MoeDetect.Model.Loading;
using MoeDetect.Pipeline.Benchmarking;
using MoeDetect.Pipeline.Sources;
using MoeDetect.Pipeline.Timing;

namespace MoeDetect.Cli.Commands;

/// <summary><c>moedetect bench</c>: engine variants × batch sizes on frames held in memory (no decoder in the
/// loop), per-stage milliseconds and FPS, as a table and as JSON. Frames come from <c>--source</c> (decoded and
/// letterboxed once) or from a raw file written by <c>--save-frames</c>, for machines without OpenCV.</summary>
public static class BenchCommand
{
    private static readonly string[] ReportedStages = [Stages.Preprocess, Stages.Upload, Stages.Inference, Stages.Download, Stages.Postprocess];
    /// <summary>With a routed (ES-MoE) model, inference split into route, experts and the rest of the net.</summary>
    private static readonly string[] InferenceSplit = [Stages.Inference, Stages.Route, Stages.Experts, Stages.RestOfNet];

    public static Command Create()
    {
        var model = new ModelOptions();
        var batches = new Option<string>("--batch") { Description = "Batch sizes to time, comma-separated", DefaultValueFactory = _ => "1,8,32" };
        var frames = new Option<int>("--frames") { Description = "Frames timed per variant and batch size", DefaultValueFactory = _ => 256 };
        var json = new Option<string?>("--json") { Description = "Also write the results to this JSON file" };
        var source = new Option<string?>("--source") { Description = "Video, image folder or glob to take frames from (decoded once, kept in memory)" };
        var sourceFrames = new Option<int>("--source-frames") { Description = "Distinct frames to take from --source", DefaultValueFactory = _ => 16 };
        var framesFile = new Option<string?>("--frames-file") { Description = "Raw frames file written by --save-frames (needs no OpenCV)" };
        var saveFrames = new Option<string?>("--save-frames") { Description = "Decode --source, letterbox for the model, write a raw frames file and stop" };
        frames.Validators.Add(r => { if (r.GetValue(frames) < 1) r.AddError("--frames must be at least 1"); });
        sourceFrames.Validators.Add(r => { if (r.GetValue(sourceFrames) < 1) r.AddError("--source-frames must be at least 1"); });
        batches.Validators.Add(r => { if (ParseBatches(r.GetValue(batches)!) is null) r.AddError("--batch must be batch sizes from 1 to 256, comma-separated (e.g. 1,8,32)"); });

        var command = new Command("bench", "Time engine variants and batch sizes on in-memory frames: per-stage ms and FPS");
        model.AddTo(command);
        foreach (var o in new Option[] { batches, frames, json, source, sourceFrames, framesFile, saveFrames }) command.Options.Add(o);

        command.SetAction(parse =>
        {
            string modelPath = model.ModelPath(parse);
            if (parse.GetValue(saveFrames) is { } target)
            {
                var saved = Decode(modelPath, parse.GetValue(source), parse.GetValue(sourceFrames));
                saved.Save(target);
                AnsiConsole.MarkupLine(Markup.Escape($"wrote {saved.Count} frames of {saved.Width}x{saved.Height} to {target}"));
                return ExitCodes.Ok;
            }
            var benchFrames = parse.GetValue(framesFile) is { } file ? BenchFrames.Load(file)
                : Decode(modelPath, parse.GetValue(source), parse.GetValue(sourceFrames));

            var request = model.Request(parse, CliOutput.Warn);
            // The ILGPU engine needs the NVIDIA driver only, not ONNX Runtime's CUDA provider (a CPU build can run it);
            // where it finds no GPU, its loader warns and falls back as detect does.
            bool gpu = request.Engine == GpuEngines.Ilgpu ? request.Device != ComputeDevice.Cpu : OrtSessionFactory.UseGpu(request, AppContext.BaseDirectory);
            string device = gpu ? $"GPU: {CudaRuntime.DeviceName()}" : $"CPU: {Environment.ProcessorCount} logical cores";
            var variants = BenchVariant.For(gpu ? ComputeDevice.Gpu : ComputeDevice.Cpu, parse.GetValue(model.Engine),
                parse.GetValue(model.Threads), request.Cuda ?? new CudaSettings());
            var runner = new BenchRunner(modelPath, benchFrames, new DecodeOptions(parse.GetValue(model.Confidence), parse.GetValue(model.Iou), parse.GetValue(model.MaxDetections)), parse.GetValue(frames),
                gpu ? GpuPeak.For(CudaRuntime.FindDeviceName()) : null);

            var results = new List<BenchResult>();
            foreach (var result in runner.Run(variants, ParseBatches(parse.GetValue(batches)!)!))
            {
                results.Add(result);
                AnsiConsole.MarkupLine(Markup.Escape(result.Error is null
                    ? $"{result.Variant} batch {result.Batch}: {result.FramesPerSecond:0.0} FPS (engine {result.Engine})"
                    : $"{result.Variant} batch {result.Batch}: failed: {result.Error}"));
            }
            Print(results, $"{Path.GetFileName(modelPath)} on {device}, {benchFrames.Count} distinct frames of {benchFrames.Width}x{benchFrames.Height}; mean ms per frame by stage");
            foreach (var r in results.Where(r => r.Efficiency is not null))
                AnsiConsole.MarkupLine(Markup.Escape($"{r.Variant} batch {r.Batch}: {Describe(r.Efficiency!)}"));
            var report = new BenchReport(device, modelPath, parse.GetValue(framesFile) ?? parse.GetValue(source) ?? "", results,
                gpu ? RecordEngineChoices(results, modelPath) : null);
            var overheads = report.Overhead.Select(o => (o, Of: "")).Concat(report.BestOverhead.Select(o => (o, Of: ", fastest layouts")));
            foreach (var (o, of) in overheads)
                AnsiConsole.MarkupLine(Markup.Escape($"ORT path overhead at batch {o.Batch}{of}: {o.Ratio:0.00}x ONNX Runtime alone " +
                    $"({o.Product} {o.ProductMsPerFrame:0.000} ms/frame end to end, {o.Raw} {o.RawMsPerFrame:0.000} ms/frame)"));
            foreach (var c in report.EngineChoice ?? [])
                AnsiConsole.MarkupLine(Markup.Escape($"auto will pick {c.Engine} for {c.Model} at batch {c.Batch} on {c.Gpu} ({c.Times}; ORT's fastest layout: {c.OrtLayout})"));
            if (parse.GetValue(json) is { } jsonPath)
                report.Save(jsonPath);
            return results.All(r => r.Error is not null) ? ExitCodes.Error : ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Where both GPU engines' product paths ran, which one <c>--engine auto</c> is to run at each batch on
    /// this GPU, written to this machine's engine choice file.</summary>
    private static IReadOnlyList<MeasuredEngineChoice> RecordEngineChoices(IReadOnlyList<BenchResult> results, string modelPath)
    {
        if (CudaRuntime.FindDeviceName() is not { } gpu) return [];
        var choices = BenchEngineChoices.From(results, gpu, ModelFingerprint.Of(modelPath));
        if (choices.Count > 0) BenchEngineChoices.Record(EngineChoiceFile.DefaultPath(), choices, CliOutput.Warn);
        return choices;
    }

    private static BenchFrames Decode(string modelPath, string? source, int count)
    {
        if (source is null) throw new MoeDetectException("bench needs frames: pass --source <video|folder|glob> or --frames-file <file>");
        var input = ModelLoader.DescribeInput(modelPath);
        using var reader = FrameSources.Open(InputResolver.Resolve([source]).First());
        var decoded = reader.ReadFrames(CancellationToken.None).Take(count).ToList();
        try
        {
            return BenchFrames.Letterbox(decoded, input);
        }
        finally
        {
            foreach (var frame in decoded) frame.Dispose();
        }
    }

    internal static IReadOnlyList<int>? ParseBatches(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var sizes = parts.Select(p => int.TryParse(p, out int b) && b is >= 1 and <= 256 ? b : -1).ToList();
        return sizes.Count == 0 || sizes.Contains(-1) ? null : sizes;
    }

    /// <summary>"inference 26.50 TFLOP/s of convolutions: 2.7% of the H100 SXM's dense FP16 tensor-core peak, 5.4% of its
    /// TF32 peak".</summary>
    internal static string Describe(BenchEfficiency e) =>
        $"inference {e.InferenceTflops:0.00} TFLOP/s of convolutions" + (e.PeakOf is null ? "" :
            $": {e.FractionOfFp16TensorCorePeak:0.0%} of the {e.PeakOf}'s dense FP16 tensor-core peak, {e.FractionOfTf32TensorCorePeak:0.0%} of its TF32 peak");

    private static void Print(IReadOnlyList<BenchResult> results, string title)
    {
        // Short headings keep the tables within 80 columns; the JSON uses the full stage names.
        string[] headings = ["prep", "up", "infer", "down", "post"];
        PrintStages(results, title, r => r.StageMs, ReportedStages, headings, withFps: true);
        // Medians too: a few slow batches on the host (a collection, the OS) move the means of a short run.
        var withMedians = results.Where(r => r.StageMedianMs is not null).ToList();
        if (withMedians.Count > 0)
            PrintStages(withMedians, "median ms per frame by stage", r => r.StageMedianMs!, ReportedStages, headings, withFps: false);
        var routed = results.Where(r => r.StageMs.ContainsKey(Stages.Route)).ToList();
        if (routed.Count > 0)
            PrintStages(routed, "inference of the routed model, split (ms per frame)", r => r.StageMs, InferenceSplit, ["infer", "route", "experts", "rest of net"], withFps: false);
    }

    private static void PrintStages(IReadOnlyList<BenchResult> results, string title, Func<BenchResult, IReadOnlyDictionary<string, double>> times,
        string[] stages, string[] headings, bool withFps)
    {
        var table = new Table().Title(Markup.Escape(title)).Border(TableBorder.Simple);
        table.AddColumn("engine");
        foreach (string heading in (string[])["batch", .. headings, .. withFps ? new[] { "FPS" } : []])
            table.AddColumn(new TableColumn(heading).RightAligned());
        foreach (var r in results)
        {
            var cells = r.Error is null
                ? stages.Select(s => times(r).TryGetValue(s, out var ms) ? $"{ms:0.000}" : "-")
                : stages.Select(_ => "");
            if (withFps) cells = cells.Append(r.Error is null ? $"{r.FramesPerSecond:0.0}" : "failed");
            table.AddRow([r.Variant, r.Batch.ToString(), .. cells]);
        }
        AnsiConsole.Write(table);
    }
}
