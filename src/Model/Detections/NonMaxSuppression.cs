namespace MoeDetect.Model.Detections;

/// <summary>Greedy class-aware non-maximum suppression: a box is dropped when a higher-scored box of the same
/// class overlaps it by more than the IoU threshold; boxes of different classes never suppress each other.</summary>
public static class NonMaxSuppression
{
    public static List<Detection> ClassAware(IEnumerable<Detection> candidates, float iouThreshold, int maxDetections)
    {
        var sorted = candidates.OrderByDescending(d => d.Score).ToList();
        var kept = new List<Detection>(Math.Min(sorted.Count, maxDetections));
        foreach (var candidate in sorted)
        {
            if (kept.Count >= maxDetections) break;
            bool suppressed = false;
            foreach (var k in kept)
            {
                if (k.ClassId == candidate.ClassId && k.Box.IntersectionOverUnion(candidate.Box) > iouThreshold)
                {
                    suppressed = true;
                    break;
                }
            }
            if (!suppressed) kept.Add(candidate);
        }
        return kept;
    }
}
