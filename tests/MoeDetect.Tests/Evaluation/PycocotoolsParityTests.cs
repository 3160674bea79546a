using MoeDetect.Evaluation;
using MoeDetect.Tests.Support;

namespace MoeDetect.Tests.Evaluation;

/// <summary>Parity with pycocotools on <see cref="StressScene"/> (seed 7). The expected statistics were produced
/// offline by pycocotools' COCO/COCOeval bbox code (cocodataset/cocoapi cocoeval.py, numpy 1.24, with maskApi.c's
/// bbox IoU rule in numpy since the compiled mask module is not installable here) on this scene exported as COCO
/// json. They differ from ours only in the last bits (numpy sums pairwise), hence the 1e-9 tolerance.</summary>
public class PycocotoolsParityTests
{
    private static readonly double[] Expected100 =
    [
        0.17461926067308198, 0.31199456176760293, 0.2222397586980299, 0.2816222479760988, 0.206125161080001, 0.2195095412359704,
        0.21397933988517337, 0.47457659517599116, 0.4953308256083764, 0.46317618257916765, 0.5337850392956027, 0.5045809841499497,
    ];
    private static readonly double[] Expected20 =
    [
        0.1745429477774063, 0.3128776161011769, 0.22163028601925125, 0.28010937803696995, 0.20500841795657673, 0.21978608569408695,
        0.21397933988517337, 0.47457659517599116, 0.49241366840733164, 0.45993039229979527, 0.5310463851484978, 0.5022763921901854,
    ];
    private static readonly double[] ExpectedSubset =
    [
        0.23578353457157403, 0.39957460243627674, 0.30414009423568694, 0.36009833919504736, 0.2925337161945211, 0.2849343335969554,
        0.2507793057691493, 0.5129713837328893, 0.5259515030456244, 0.5291875, 0.5570099834805717, 0.5168222016079158,
    ];

    private static double[] Stats(CocoEvaluationReport r) =>
        [r.Map50_95, r.Map50, r.Map75, r.MapSmall, r.MapMedium, r.MapLarge, r.Mar1, r.Mar10, r.Mar100, r.MarSmall, r.MarMedium, r.MarLarge];

    private static StressScene Scene() => StressScene.Build(CocoDataset.Load(TestPaths.Coco128Annotations), seed: 7);

    [SkippableFact]
    public void SameTwelveStatisticsAsPycocotools()
    {
        Skip.If(TestPaths.SharedMissing is not null, TestPaths.SharedMissing);
        var scene = Scene();
        Assert.Equal(2436, scene.Detections.Count); // guards against the scene itself changing

        var actual = Stats(CocoEvaluator.Evaluate(scene.Truth, scene.Detections));

        Assert.All(Expected100.Zip(actual), p => Assert.Equal(p.First, p.Second, 1e-9));
    }

    [SkippableFact]
    public void SameStatisticsWithTwentyDetectionsPerImage()
    {
        Skip.If(TestPaths.SharedMissing is not null, TestPaths.SharedMissing);
        var scene = Scene();

        var actual = Stats(CocoEvaluator.Evaluate(scene.Truth, scene.Detections, maxDetections: 20));

        Assert.All(Expected20.Zip(actual), p => Assert.Equal(p.First, p.Second, 1e-9));
    }

    [SkippableFact]
    public void SameStatisticsOnAnImageSubset()
    {
        Skip.If(TestPaths.SharedMissing is not null, TestPaths.SharedMissing);
        var scene = Scene();

        var actual = Stats(CocoEvaluator.Evaluate(scene.Truth, scene.Detections, imageIds: scene.ImageSubset));

        Assert.All(ExpectedSubset.Zip(actual), p => Assert.Equal(p.First, p.Second, 1e-9));
    }
}
