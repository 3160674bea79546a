using MoeDetect.Evaluation;
using MoeDetect.Pipeline.Frames;
using MoeDetect.Pipeline.Inference;
using MoeDetect.Pipeline.Progress;
using MoeDetect.Pipeline.Sources;
using MoeDetect.Pipeline.Timing;

namespace MoeDetect.Cli.Evaluation;

/// <summary>Runs a detector over the images a COCO annotation file lists and turns its detections into COCO
/// results (category ids mapped by class name, boxes as x, y, w, h).</summary>
public sealed class CocoDetectionRun(FrameDetector detector, CocoDataset dataset, CategoryMap categories, int batchSize)
{
    public sealed record Result(IReadOnlyList<CocoDetection> Detections, IReadOnlyList<int> ImageIds, IReadOnlyList<string> MissingImages, StageStatistics Stages);

    public Result Run(string imagesFolder, int? maxImages, IProgressReporter progress, CancellationToken cancellation)
    {
        var listed = dataset.Images.Take(maxImages ?? int.MaxValue).ToList();
        var present = listed.Where(i => File.Exists(Path.Combine(imagesFolder, i.FileName))).ToList();
        var missing = listed.Except(present).Select(i => i.FileName).ToList();
        if (present.Count == 0)
            throw new SourceException($"none of the {listed.Count} images listed in the annotations were found in {imagesFolder}; check --images");

        var idByFile = present.ToDictionary(i => i.FileName, i => i.Id);
        var spec = new SourceSpec(SourceKind.ImageSequence, imagesFolder, "eval", present.Select(i => Path.Combine(imagesFolder, i.FileName)).ToList());
        var stages = new StageStatistics();
        var results = new List<CocoDetection>();
        using var source = new ImageSequenceSource(spec);
        progress.Started(spec.Name, present.Count);
        long done = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        foreach (var batch in source.ReadFrames(cancellation).Chunk(batchSize))
        {
            try
            {
                foreach (var frame in detector.Detect(batch, stages))
                {
                    int imageId = idByFile[frame.Source];
                    foreach (var d in frame.Detections)
                        if (categories.TryGetCategoryId(d.ClassId, out int categoryId))
                            results.Add(new CocoDetection(imageId, categoryId, d.Box.X1, d.Box.Y1, d.Box.Width, d.Box.Height, d.Score));
                }
            }
            finally
            {
                foreach (Frame f in batch) f.Dispose();
            }
            done += batch.Length;
            progress.Advanced(spec.Name, done, done, done / clock.Elapsed.TotalSeconds);
        }
        progress.Finished(spec.Name, "ok", null);
        return new Result(results, present.Select(i => i.Id).ToList(), missing, stages);
    }
}
