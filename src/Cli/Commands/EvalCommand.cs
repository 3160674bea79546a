using System.CommandLine;
using Spectre.Console;
using MoeDetect.Cli.Console;
using MoeDetect.Cli.Evaluation;
using MoeDetect.Evaluation;
using MoeDetect.Pipeline.Inference;
using MoeDetect.Model;

namespace MoeDetect.Cli.Commands;

/// <summary><c>moedetect eval</c>: COCO mAP of a model on a labelled image set (pycocotools protocol), written as
/// JSON and printed as a table. Model classes map to the annotation categories by name.</summary>
public static class EvalCommand
{
    /// <summary>COCO scores every detection down to this score (as pycocotools users do); --conf overrides it.</summary>
    public const float CocoConfidence = 0.001f;

    public static Command Create()
    {
        var model = new ModelOptions();
        var images = new Option<string>("--images") { Description = "Folder holding the images the annotation file lists", Required = true };
        var annotations = new Option<string>("--annotations") { Description = "COCO instances json (ground truth)", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "Where to write the metrics JSON (map50_95, map50, per_class, …)", Required = true };
        var maxImages = new Option<int?>("--max-images") { Description = "Evaluate only the first N listed images" };
        var batch = ModelOptions.BatchOption("Images per inference batch");
        maxImages.Validators.Add(r => { if (r.GetValue(maxImages) is < 1) r.AddError("--max-images must be at least 1"); });

        var command = new Command("eval", "Measure COCO mAP@[.5:.95], mAP@.5 and per-class AP of a model on labelled images");
        foreach (var o in new Option[] { images, annotations, output, maxImages, batch }) command.Options.Add(o);
        model.AddTo(command);

        command.SetAction(async (parse, cancellation) =>
        {
            var dataset = CocoDataset.Load(parse.GetValue(annotations)!);
            using var detectorModel = model.Load(parse, CliOutput.Warn);
            var categories = CategoryMap.ByName(dataset, detectorModel.ClassNames);
            if (categories.MappedCount == 0)
                throw new Model.MoeDetectException($"none of the model's {detectorModel.ClassNames.Count} class names match a category of {parse.GetValue(annotations)}");
            float? confidence = parse.GetResult(model.Confidence) is { Implicit: false } ? null : CocoConfidence;
            using var detector = new FrameDetector(detectorModel, model.Decode(parse, detectorModel, confidence));
            var run = new CocoDetectionRun(detector, dataset, categories, parse.GetValue(batch));
            var result = await ProgressDisplay.RunAsync(progress =>
                Task.Run(() => run.Run(parse.GetValue(images)!, parse.GetValue(maxImages), progress, cancellation), cancellation));

            var report = CocoEvaluator.Evaluate(dataset, result.Detections, parse.GetValue(model.MaxDetections), result.ImageIds);
            string outputPath = parse.GetValue(output)!;
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outputPath))!);
            AtomicFile.WriteAllText(outputPath, report.ToJson());

            System.Console.WriteLine(report.ToTable());
            if (result.MissingImages.Count > 0)
                CliOutput.Warn($"warning: {result.MissingImages.Count} listed images were not found and were left out (e.g. {result.MissingImages[0]})");
            AnsiConsole.MarkupLine(Markup.Escape($"mAP@[.5:.95] {report.Map50_95:0.000}  mAP@.5 {report.Map50:0.000}  on {result.ImageIds.Count} images; metrics in {Path.GetFullPath(outputPath)}"));
            return ExitCodes.Ok;
        });
        return command;
    }
}
