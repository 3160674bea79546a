using MoeDetect.Evaluation;
using MoeDetect.Tests.Support;

namespace MoeDetect.Tests.Evaluation;

/// <summary>The evaluator on the real coco128 annotations (929 boxes, 80 categories, 128 images).</summary>
public class Coco128EvaluationTests
{
    private static CocoDetection AsDetection(CocoAnnotation a, double score) =>
        new(a.ImageId, a.CategoryId, a.Bbox.X, a.Bbox.Y, a.Bbox.Width, a.Bbox.Height, score);

    [SkippableFact]
    public void GroundTruthAsDetectionsScoresOne()
    {
        Skip.If(TestPaths.SharedMissing is not null, TestPaths.SharedMissing);
        var truth = CocoDataset.Load(TestPaths.Coco128Annotations);

        var report = CocoEvaluator.Evaluate(truth, truth.Annotations.Select(a => AsDetection(a, 1.0)).ToList());

        Assert.Equal(128, report.Images);
        Assert.Equal(truth.Annotations.Count, report.Detections);
        Assert.Equal(1.0, report.Map50_95, 1e-12);
        Assert.Equal(1.0, report.Map50, 1e-12);
        Assert.Equal(1.0, report.MapSmall, 1e-12);
        Assert.Equal(1.0, report.MapLarge, 1e-12);
        Assert.Equal(1.0, report.Mar100, 1e-12);
        Assert.Equal(truth.Annotations.Count(a => !a.IsCrowd), report.PerClass.Sum(c => c.GroundTruthCount));
        Assert.Equal(truth.Annotations.Select(a => a.CategoryId).Distinct().Count(), report.PerClass.Count);
    }

    [SkippableFact]
    public void JitteredBoxesScoreLowerAndLooseThresholdsForgiveMore()
    {
        Skip.If(TestPaths.SharedMissing is not null, TestPaths.SharedMissing);
        var truth = CocoDataset.Load(TestPaths.Coco128Annotations);
        var random = new Random(1234);
        // Shift each corner by up to ±15 % of the box size: most boxes still pass IoU 0.5, few pass 0.95.
        var jittered = truth.Annotations.Select(a =>
        {
            double Shift(double size) => (random.NextDouble() * 2 - 1) * 0.15 * size;
            double x1 = a.Bbox.X + Shift(a.Bbox.Width), y1 = a.Bbox.Y + Shift(a.Bbox.Height);
            double x2 = a.Bbox.X + a.Bbox.Width + Shift(a.Bbox.Width), y2 = a.Bbox.Y + a.Bbox.Height + Shift(a.Bbox.Height);
            return new CocoDetection(a.ImageId, a.CategoryId, x1, y1, x2 - x1, y2 - y1, random.NextDouble());
        }).ToList();

        var report = CocoEvaluator.Evaluate(truth, jittered);

        Assert.InRange(report.Map50_95, 0.2, 0.9);
        Assert.True(report.Map50 > report.Map75 && report.Map75 > report.Map50_95 * 0.5,
            $"expected AP50 > AP75, got {report.Map50} and {report.Map75}");
        Assert.True(report.Map50 > report.Map50_95, $"AP50 {report.Map50} should exceed AP50:95 {report.Map50_95}");
        Assert.InRange(report.Map50, 0.8, 1.0);
    }

    [SkippableFact]
    public void SubsetOfImagesIgnoresTheRest()
    {
        Skip.If(TestPaths.SharedMissing is not null, TestPaths.SharedMissing);
        var truth = CocoDataset.Load(TestPaths.Coco128Annotations);
        var processed = truth.Images.Take(10).Select(i => i.Id).ToHashSet();
        // Perfect on the processed images, nothing on the others: only the processed ones may count.
        var detections = truth.Annotations.Where(a => processed.Contains(a.ImageId)).Select(a => AsDetection(a, 0.7)).ToList();

        var subset = CocoEvaluator.Evaluate(truth, detections, imageIds: processed);
        var whole = CocoEvaluator.Evaluate(truth, detections);

        Assert.Equal(10, subset.Images);
        Assert.Equal(1.0, subset.Map50_95, 1e-12);
        Assert.True(whole.Map50_95 < 0.5, $"the whole set misses most objects, got {whole.Map50_95}");
    }
}
