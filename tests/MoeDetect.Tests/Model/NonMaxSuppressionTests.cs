using MoeDetect.Model.Detections;

namespace MoeDetect.Tests.Model;

public class NonMaxSuppressionTests
{
    private static Detection D(int cls, float score, float x1, float y1, float x2, float y2) => new(cls, $"c{cls}", score, new BoxF(x1, y1, x2, y2));

    [Fact]
    public void Iou_of_two_offset_squares_is_intersection_over_union()
    {
        // 10×10 squares shifted by 5 in x: intersection 50, union 150.
        Assert.Equal(1f / 3, new BoxF(0, 0, 10, 10).IntersectionOverUnion(new BoxF(5, 0, 15, 10)), 6);
        Assert.Equal(0f, new BoxF(0, 0, 10, 10).IntersectionOverUnion(new BoxF(10, 0, 20, 10)));
    }

    [Fact]
    public void Lower_scored_overlapping_box_of_the_same_class_is_suppressed()
    {
        var kept = NonMaxSuppression.ClassAware([D(0, 0.6f, 1, 1, 11, 11), D(0, 0.9f, 0, 0, 10, 10)], 0.5f, 100);
        var only = Assert.Single(kept);
        Assert.Equal(0.9f, only.Score);
    }

    [Fact]
    public void Overlapping_boxes_of_different_classes_are_both_kept()
    {
        var kept = NonMaxSuppression.ClassAware([D(0, 0.9f, 0, 0, 10, 10), D(1, 0.8f, 0, 0, 10, 10)], 0.5f, 100);
        Assert.Equal(2, kept.Count);
    }

    [Fact]
    public void Overlap_at_or_below_the_threshold_is_kept()
    {
        // IoU exactly 1/3: kept at threshold 1/3 (suppression needs strictly more), dropped at 0.3.
        var pair = new[] { D(0, 0.9f, 0, 0, 10, 10), D(0, 0.8f, 5, 0, 15, 10) };
        Assert.Equal(2, NonMaxSuppression.ClassAware(pair, 1f / 3 + 1e-6f, 100).Count);
        Assert.Single(NonMaxSuppression.ClassAware(pair, 0.3f, 100));
    }

    [Fact]
    public void At_most_max_detections_are_kept_highest_scores_first()
    {
        var many = Enumerable.Range(0, 10).Select(i => D(0, i / 10f, i * 20, 0, i * 20 + 10, 10));
        var kept = NonMaxSuppression.ClassAware(many, 0.5f, 3);
        Assert.Equal([0.9f, 0.8f, 0.7f], kept.Select(k => k.Score));
    }
}
