using MoeDetect.Evaluation;
using static MoeDetect.Tests.Evaluation.GroundTruthBuilder;

namespace MoeDetect.Tests.Evaluation;

/// <summary>Hand-computed cases of the pycocotools bbox protocol. pycocotools divides tp by tp+fp+2.2e-16, so a lone
/// true positive scores 1-2e-16 rather than 1; comparisons therefore allow 1e-12.</summary>
public class CocoEvaluatorTests
{
    private const double Tolerance = 1e-12;
    // Two ground truths, ranked TP, FP, TP: recall .5,.5,1 and interpolated precision 1, 2/3, 2/3.
    // Recall points 0.00…0.50 (51 of them) sample precision 1, points 0.51…1.00 (50) sample 2/3.
    private const double TpFpTpAp = (51 * 1.0 + 50 * (2.0 / 3.0)) / 101;

    [Fact]
    public void PerfectDetectionsScoreOneEverywhere()
    {
        var truth = new GroundTruthBuilder().Image(1).Image(2)
            .Box(1, Cat, 10, 10, 20, 20)     // small
            .Box(1, Dog, 100, 100, 50, 60)   // medium
            .Box(2, Cat, 0, 0, 300, 200)     // large
            .Box(2, Bird, 400, 50, 40, 40)   // medium
            .Build();
        var detections = truth.Annotations
            .Select(a => new CocoDetection(a.ImageId, a.CategoryId, a.Bbox.X, a.Bbox.Y, a.Bbox.Width, a.Bbox.Height, 0.9))
            .ToList();

        var report = CocoEvaluator.Evaluate(truth, detections);

        double[] stats = [report.Map50_95, report.Map50, report.Map75, report.MapSmall, report.MapMedium, report.MapLarge,
            report.Mar1, report.Mar10, report.Mar100, report.MarSmall, report.MarMedium, report.MarLarge];
        Assert.All(stats, s => Assert.Equal(1.0, s, Tolerance));
        Assert.Equal([Cat, Dog, Bird], report.PerClass.Select(c => c.CategoryId));
        Assert.Equal(2, report.PerClass.Single(c => c.CategoryId == Cat).GroundTruthCount);
    }

    [Theory]
    [InlineData(6.25)] // IoU 0.625: passes 0.50, 0.55, 0.60
    [InlineData(6.0)]  // IoU exactly 0.6: a threshold counts as passed when the IoU equals it
    public void SingleDetectionPassesOnlyTheThresholdsBelowItsIou(double detectionHeight)
    {
        var truth = new GroundTruthBuilder().Image(1).Box(1, Cat, 0, 0, 10, 10).Build();

        var report = CocoEvaluator.Evaluate(truth, [Detection(1, Cat, 0, 0, 10, detectionHeight, 0.8)]);

        Assert.Equal(1.0, report.Map50, Tolerance);
        Assert.Equal(0.0, report.Map75, Tolerance);
        Assert.Equal(0.3, report.Map50_95, Tolerance);
        Assert.Equal(0.3, report.Mar100, Tolerance);
    }

    [Theory]
    [InlineData(300, 300)] // a box on nothing
    [InlineData(1, 1)]     // a duplicate of the first hit: its truth is already taken
    public void FalsePositiveBetweenTwoHitsGivesInterpolatedAp(double x, double y)
    {
        var truth = new GroundTruthBuilder().Image(1)
            .Box(1, Cat, 0, 0, 50, 50).Box(1, Cat, 100, 100, 50, 50).Build();
        CocoDetection[] detections =
        [
            Detection(1, Cat, 0, 0, 50, 50, 0.9),
            Detection(1, Cat, x, y, 50, 50, 0.8),
            Detection(1, Cat, 100, 100, 50, 50, 0.7),
        ];

        var report = CocoEvaluator.Evaluate(truth, detections);

        Assert.Equal(TpFpTpAp, report.Map50, Tolerance);
        Assert.Equal(TpFpTpAp, report.Map50_95, Tolerance);
        Assert.Equal(1.0, report.Mar100, Tolerance);
        Assert.Equal(0.5, report.Mar1, Tolerance); // one detection per image: only the first hit
    }

    [Fact]
    public void DetectionsInsideACrowdRegionAreIgnoredNotFalsePositives()
    {
        CocoDetection[] detections =
        [
            Detection(1, Cat, 210, 210, 20, 20, 0.9),
            Detection(1, Cat, 250, 250, 20, 20, 0.8),
            Detection(1, Cat, 300, 300, 20, 20, 0.7),
            Detection(1, Cat, 0, 0, 50, 50, 0.6),
        ];
        CocoDataset Scene(bool crowd) => new GroundTruthBuilder().Image(1)
            .Box(1, Cat, 0, 0, 50, 50)
            .Box(1, Cat, 200, 200, 200, 200, crowd)
            .Build();

        var withCrowd = CocoEvaluator.Evaluate(Scene(crowd: true), detections);
        var withoutCrowd = CocoEvaluator.Evaluate(Scene(crowd: false), detections);

        // Overlap with a crowd is intersection over the detection's area (1 here), and one crowd absorbs all
        // three; they are ignored, so the only counted detection is the hit on the regular box.
        Assert.Equal(1.0, withCrowd.Map50_95, Tolerance);
        Assert.Equal(1, withCrowd.PerClass.Single().GroundTruthCount);
        // As a regular box the large region is a missed object and the three small boxes are false positives
        // (IoU 400/40000): recall 0.5 reached at rank 4 with precision 1/4.
        Assert.Equal(51 * 0.25 / 101, withoutCrowd.Map50_95, Tolerance);
    }

    [Fact]
    public void CategoryWithOnlyCrowdTruthIsLeftOutOfTheMean()
    {
        var truth = new GroundTruthBuilder().Image(1)
            .Box(1, Cat, 0, 0, 50, 50)
            .Box(1, Dog, 200, 200, 100, 100, crowd: true)
            .Build();

        var report = CocoEvaluator.Evaluate(truth, [Detection(1, Cat, 0, 0, 50, 50, 0.9)]);

        Assert.Equal(1.0, report.Map50_95, Tolerance);
        Assert.Equal([Cat], report.PerClass.Select(c => c.CategoryId));
    }

    [Fact]
    public void AreaRangesUseTheAnnotationAreaAndIgnoreDetectionsOfOtherSizes()
    {
        var truth = new GroundTruthBuilder().Image(1)
            .Box(1, Cat, 0, 0, 100, 100, area: 500)      // drawn large, declared small: the area field decides
            .Box(1, Cat, 200, 200, 200, 200)              // large
            .Build();
        CocoDetection[] detections =
        [
            Detection(1, Cat, 0, 0, 100, 100, 0.9),       // hits the "small" truth
            Detection(1, Cat, 500, 0, 10, 10, 0.8),       // small false positive
        ];

        var report = CocoEvaluator.Evaluate(truth, detections);

        // small: the hit counts (matched detections count whatever their own size), then the small FP.
        Assert.Equal(1.0, report.MapSmall, Tolerance);
        // large: the hit landed on an out-of-range truth and the FP is out of range, both ignored; the large truth is missed.
        Assert.Equal(0.0, report.MapLarge, Tolerance);
        Assert.Equal(-1, report.MapMedium);
        // all: TP then FP with two truths: recall 0.5 at precision 1.
        Assert.Equal(51.0 / 101, report.Map50_95, Tolerance);
    }

    [Fact]
    public void OnlyTheBestMaxDetectionsPerImageAndCategoryAreKept()
    {
        var truth = new GroundTruthBuilder().Image(1).Box(1, Cat, 0, 0, 50, 50).Build();
        var detections = Enumerable.Range(0, 100)
            .Select(i => Detection(1, Cat, 100 + i * 5, 300, 4, 4, 0.9))
            .Append(Detection(1, Cat, 0, 0, 50, 50, 0.5))
            .ToList();

        var cut = CocoEvaluator.Evaluate(truth, detections);
        var kept = CocoEvaluator.Evaluate(truth, detections, maxDetections: 101);

        Assert.Equal(0.0, cut.Map50_95, Tolerance);
        Assert.Equal(0.0, cut.Mar100, Tolerance);
        // The hit is ranked 101st: precision 1/101 at full recall, carried back to every recall point.
        Assert.Equal(1.0 / 101, kept.Map50_95, Tolerance);
        Assert.Equal(1.0, kept.Mar100, Tolerance);
        Assert.Equal(0.0, kept.Mar10, Tolerance);
    }

    [Fact]
    public void DetectionLimitAppliesPerCategoryAsInPycocotools()
    {
        var truth = new GroundTruthBuilder().Image(1).Box(1, Cat, 0, 0, 50, 50).Box(1, Dog, 300, 300, 50, 50).Build();
        var detections = Enumerable.Range(0, 100)
            .Select(i => Detection(1, Dog, 300, 300, 50, 50, 0.9))
            .Append(Detection(1, Cat, 0, 0, 50, 50, 0.1))
            .ToList();

        var report = CocoEvaluator.Evaluate(truth, detections);

        Assert.Equal(1.0, report.PerClass.Single(c => c.CategoryId == Cat).Ap50_95, Tolerance);
    }

    [Fact]
    public void CategoryWithoutTruthIsExcludedFromTheMean()
    {
        var truth = new GroundTruthBuilder().Image(1).Box(1, Cat, 0, 0, 50, 50).Build();
        CocoDetection[] detections =
        [
            Detection(1, Cat, 0, 0, 50, 50, 0.9),
            Detection(1, Bird, 200, 200, 50, 50, 0.95), // no bird in the truth: not averaged in as AP 0
        ];

        var report = CocoEvaluator.Evaluate(truth, detections);

        Assert.Equal(1.0, report.Map50_95, Tolerance);
        Assert.Equal([Cat], report.PerClass.Select(c => c.CategoryId));
    }

    [Fact]
    public void OnlyTheChosenImagesAreEvaluated()
    {
        var truth = new GroundTruthBuilder().Image(1).Image(2)
            .Box(1, Cat, 0, 0, 50, 50)
            .Box(2, Cat, 0, 0, 50, 50) // not processed: its miss must not count
            .Build();
        CocoDetection[] detections =
        [
            Detection(1, Cat, 0, 0, 50, 50, 0.9),
            Detection(2, Cat, 300, 300, 50, 50, 0.99),
            Detection(77, Cat, 0, 0, 50, 50, 0.99), // image not in the annotations at all
        ];

        var subset = CocoEvaluator.Evaluate(truth, detections, imageIds: [1]);
        var everything = CocoEvaluator.Evaluate(truth, detections);

        Assert.Equal(1.0, subset.Map50_95, Tolerance);
        Assert.Equal(1, subset.Images);
        Assert.Equal(1, subset.Detections);
        Assert.Equal(1, subset.PerClass.Single().GroundTruthCount);
        // All images: FP (0.99) then TP, two truths: recall 0.5 at precision 1/2.
        Assert.Equal(51 * 0.5 / 101, everything.Map50_95, Tolerance);
        Assert.Equal(2, everything.Detections);
    }

    [Fact]
    public void EqualScoresRankInAscendingImageIdOrder()
    {
        // Image 2 is listed first on purpose: pycocotools pools images by ascending id, then sorts stably.
        var truth = new GroundTruthBuilder().Image(2).Image(1)
            .Box(1, Cat, 0, 0, 50, 50).Box(2, Cat, 0, 0, 50, 50).Build();
        CocoDetection[] detections =
        [
            Detection(2, Cat, 0, 0, 50, 50, 0.5),      // TP
            Detection(1, Cat, 300, 300, 50, 50, 0.5),  // FP, same score, lower image id: ranked first
            Detection(1, Cat, 0, 0, 50, 50, 0.4),      // TP
        ];

        var report = CocoEvaluator.Evaluate(truth, detections);

        // FP, TP, TP: precision 0, 1/2, 2/3 interpolates to 2/3 at every recall point.
        Assert.Equal(2.0 / 3, report.Map50_95, Tolerance);
    }

    [Fact]
    public void RejectsDetectionsOfUnknownCategoriesAndUnknownImageSubsets()
    {
        var truth = new GroundTruthBuilder().Image(1).Box(1, Cat, 0, 0, 50, 50).Build();

        var category = Assert.Throws<ArgumentException>(() => CocoEvaluator.Evaluate(truth, [Detection(1, 42, 0, 0, 5, 5, 0.5)]));
        var image = Assert.Throws<ArgumentException>(() => CocoEvaluator.Evaluate(truth, [], imageIds: [1, 9]));

        Assert.Contains("category id 42", category.Message);
        Assert.Contains("image id 9", image.Message);
    }
}
