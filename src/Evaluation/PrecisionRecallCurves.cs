namespace MoeDetect.Evaluation;

/// <summary>For one category, area range and detection limit: the interpolated precision sampled at the 101 recall
/// thresholds, and the final recall, per IoU threshold ([threshold][recall point] and [threshold]).</summary>
internal sealed record PrecisionRecallCurves(double[][] Precision, double[] Recall)
{
    // numpy.spacing(1): pycocotools adds it to tp+fp so precision is defined before the first counted detection.
    private const double Epsilon = 2.220446049250313e-16;

    /// <summary>All detections of one category, pooled over its images (in the order given: ascending image id)
    /// and ranked by descending score; equal scores keep the pooled order, as numpy's stable mergesort does.
    /// The ranking does not depend on the area range, so it is computed once per category.</summary>
    public static (int Image, int Detection)[] Rank(IReadOnlyList<ImageCategoryMatch> images)
    {
        var pooled = new List<(int Image, int Detection)>();
        for (int i = 0; i < images.Count; i++)
            for (int d = 0; d < images[i].Scores.Length; d++)
                pooled.Add((i, d));
        return pooled.OrderByDescending(p => images[p.Image].Scores[p.Detection]).ToArray();
    }

    /// <summary>Walks the <paramref name="ranking"/> (from <see cref="Rank"/>) keeping only each image's best
    /// <paramref name="maxDetections"/>, which is the same as ranking the cut lists because the sort is stable.
    /// Null when no truth counts (the category is then left out of the means).</summary>
    public static PrecisionRecallCurves? Accumulate(IReadOnlyList<ImageCategoryMatch> images,
        (int Image, int Detection)[] ranking, int maxDetections)
    {
        int countedTruths = images.Sum(i => i.CountedTruths);
        if (countedTruths == 0) return null;
        var ranked = ranking.Where(p => p.Detection < maxDetections).ToArray();

        var recallThresholds = CocoProtocol.RecallThresholds;
        int thresholdCount = CocoProtocol.IouThresholds.Count;
        int n = ranked.Length;
        var rc = new double[n];
        var pr = new double[n];
        var precision = new double[thresholdCount][];
        var recall = new double[thresholdCount];
        for (int t = 0; t < thresholdCount; t++)
        {
            double tp = 0, fp = 0;
            for (int i = 0; i < n; i++)
            {
                var match = images[ranked[i].Image];
                int d = ranked[i].Detection;
                if (!match.Ignored[t][d])
                {
                    if (match.Matched[t][d]) tp++;
                    else fp++;
                }
                rc[i] = tp / countedTruths;
                pr[i] = tp / (fp + tp + Epsilon);
            }
            recall[t] = n > 0 ? rc[n - 1] : 0;

            // Interpolate: precision at a rank is the best precision at any deeper rank.
            for (int i = n - 1; i > 0; i--)
                if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];

            // Sample at the first rank whose recall reaches each threshold (searchsorted, side left);
            // thresholds beyond the final recall stay 0.
            precision[t] = new double[recallThresholds.Count];
            int rank = 0;
            for (int r = 0; r < recallThresholds.Count; r++)
            {
                while (rank < n && rc[rank] < recallThresholds[r]) rank++;
                if (rank == n) break;
                precision[t][r] = pr[rank];
            }
        }
        return new PrecisionRecallCurves(precision, recall);
    }
}
