using System.CommandLine;
using Spectre.Console;
using MoeDetect.Cli.Console;
using MoeDetect.Pipeline.Inference;
using MoeDetect.Pipeline.Offline;
using MoeDetect.Pipeline.Sources;

namespace MoeDetect.Cli.Commands;

/// <summary><c>moedetect detect</c>: the offline batch tool. Videos, folders, globs or URLs in; per input a JSON
/// Lines file (and optionally an annotated video); one summary.json with per-stage timings for the run.</summary>
public static class DetectCommand
{
    public static Command Create()
    {
        var model = new ModelOptions();
        var inputs = new Argument<string[]>("inputs") { Arity = ArgumentArity.OneOrMore, Description = "Video files, folders of videos or images, globs (quoted), image-sequence patterns (img_%04d.jpg), RTSP/HTTP URLs or device numbers" };
        var output = new Option<string>("--out", "-o") { Description = "Output folder (created if missing)", Required = true };
        var stride = new Option<int>("--stride") { Description = "Process every N-th frame", DefaultValueFactory = _ => 1 };
        var maxFrames = new Option<long?>("--max-frames") { Description = "Stop each input after N processed frames" };
        var saveVideo = new Option<bool>("--save-video") { Description = "Also write <name>.annotated.mp4 with boxes, labels and scores drawn" };
        var batch = ModelOptions.BatchOption("Frames per inference batch");
        stride.Validators.Add(r => { if (r.GetValue(stride) < 1) r.AddError("--stride must be at least 1"); });
        maxFrames.Validators.Add(r => { if (r.GetValue(maxFrames) is < 1) r.AddError("--max-frames must be at least 1"); });

        var command = new Command("detect", "Detect objects in videos, image folders or streams; write JSON Lines, annotated video and a timing summary");
        command.Arguments.Add(inputs);
        command.Options.Add(output);
        model.AddTo(command);
        foreach (var o in new Option[] { stride, maxFrames, saveVideo, batch }) command.Options.Add(o);

        command.SetAction(async (parse, cancellation) =>
        {
            var sources = InputResolver.Resolve(parse.GetValue(inputs)!);
            using var detectorModel = model.Load(parse, CliOutput.Warn, parse.GetValue(batch));
            using var detector = new FrameDetector(detectorModel, model.Decode(parse, detectorModel));
            var options = new DetectJobOptions(sources, parse.GetValue(output)!, parse.GetValue(stride),
                parse.GetValue(maxFrames), parse.GetValue(saveVideo), parse.GetValue(batch));
            var report = await ProgressDisplay.RunAsync(progress => new DetectJob(detector, options, progress).RunAsync(cancellation));
            PrintReport(report, options.OutputFolder);
            return report.FailedInputs > 0 ? ExitCodes.SomeInputsFailed : ExitCodes.Ok;
        });
        return command;
    }

    private static void PrintReport(RunReport report, string outputFolder)
    {
        StageTable.Print(report.Stages, $"{report.FramesProcessed} frames in {report.WallSeconds:0.00} s = {report.FramesPerSecond:0.0} FPS end to end ({report.Engine})");
        if (report.Routes is { } r)
            AnsiConsole.MarkupLine(Markup.Escape($"routing: {r.MeanGflops:0.000} GFLOPs/frame on average (min {r.MinGflops:0.000}, max {r.MaxGflops:0.000}); route changed between consecutive frames {100 * r.FlipRate:0.0} % of the time"));
        foreach (var input in report.Inputs.Where(i => i.Status != "ok"))
            CliOutput.Error($"{input.Source.Location}: {input.Status}: {input.Error}");
        AnsiConsole.MarkupLine(Markup.Escape($"outputs and {DetectJob.SummaryFileName} in {Path.GetFullPath(outputFolder)}"));
    }
}
