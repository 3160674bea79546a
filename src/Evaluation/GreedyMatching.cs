namespace MoeDetect.Evaluation;

/// <summary>The detections of one image and one category, best score first (stable, so equal scores keep their
/// input order) and cut to the per-image limit, with their overlap to every ground-truth box of that pair.</summary>
internal sealed class ImageCategoryCandidates
{
    public IReadOnlyList<CocoAnnotation> Truths { get; }
    public CocoDetection[] Detections { get; }
    public double[] Scores { get; }
    /// <summary>[detection, truth] in <see cref="Truths"/> order.</summary>
    public double[,] Overlaps { get; }

    public ImageCategoryCandidates(IReadOnlyList<CocoAnnotation> truths, IEnumerable<CocoDetection> detections, int maxDetections)
    {
        Truths = truths;
        Detections = detections.OrderByDescending(d => d.Score).Take(maxDetections).ToArray();
        Scores = Detections.Select(d => d.Score).ToArray();
        Overlaps = new double[Detections.Length, truths.Count];
        for (int d = 0; d < Detections.Length; d++)
            for (int g = 0; g < truths.Count; g++)
                Overlaps[d, g] = CocoBox.Overlap(Detections[d].Box, truths[g].Bbox, truths[g].IsCrowd);
    }
}

/// <summary>Outcome of matching one image and category in one area range, per IoU threshold:
/// which detections are true positives, which are ignored (neither TP nor FP), and how many truths count.</summary>
internal sealed record ImageCategoryMatch(double[] Scores, bool[][] Matched, bool[][] Ignored, int CountedTruths);

/// <summary>COCO's greedy assignment: detections in score order each take the unmatched truth of highest IoU
/// (at least the threshold). Crowd and out-of-range truths are "ignored": they sort last, a detection only falls
/// back to them when no counted truth qualifies, crowds can absorb any number of detections, and a detection
/// that lands on an ignored truth is ignored rather than counted.</summary>
internal static class GreedyMatching
{
    // pycocotools caps the threshold just below 1 so a perfect overlap still matches at IoU 1.0.
    private const double HighestThreshold = 1 - 1e-10;

    public static ImageCategoryMatch Match(ImageCategoryCandidates candidates, AreaRange range)
    {
        var truths = candidates.Truths;
        var detections = candidates.Detections;
        int truthCount = truths.Count, detectionCount = detections.Length;

        bool IsIgnored(CocoAnnotation t) => t.IsCrowd || !range.Contains(t.Area);
        // Counted truths first, then ignored ones, each group in file order (a stable sort on the ignore flag).
        int[] order = [.. Enumerable.Range(0, truthCount).Where(g => !IsIgnored(truths[g])),
                       .. Enumerable.Range(0, truthCount).Where(g => IsIgnored(truths[g]))];
        bool[] truthIgnored = order.Select(g => IsIgnored(truths[g])).ToArray();

        var thresholds = CocoProtocol.IouThresholds;
        var matched = new bool[thresholds.Count][];
        var ignored = new bool[thresholds.Count][];
        for (int t = 0; t < thresholds.Count; t++)
        {
            matched[t] = new bool[detectionCount];
            ignored[t] = new bool[detectionCount];
            var truthTaken = new bool[truthCount];
            for (int d = 0; d < detectionCount; d++)
            {
                double best = Math.Min(thresholds[t], HighestThreshold);
                int match = -1;
                for (int s = 0; s < truthCount; s++)
                {
                    var truth = truths[order[s]];
                    if (truthTaken[s] && !truth.IsCrowd) continue;
                    // Counted truths come first: once one matched, an ignored truth must not take over.
                    if (match > -1 && !truthIgnored[match] && truthIgnored[s]) break;
                    double overlap = candidates.Overlaps[d, order[s]];
                    if (overlap < best) continue;
                    best = overlap;
                    match = s;
                }
                if (match == -1) continue;
                matched[t][d] = true;
                ignored[t][d] = truthIgnored[match];
                truthTaken[match] = true;
            }
            // An unmatched detection of a size outside the range is not this range's false positive.
            for (int d = 0; d < detectionCount; d++)
                if (!matched[t][d] && !range.Contains(detections[d].Box.Area))
                    ignored[t][d] = true;
        }
        return new ImageCategoryMatch(candidates.Scores, matched, ignored, truthIgnored.Count(i => !i));
    }
}
