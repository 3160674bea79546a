namespace MoeDetect.Evaluation;

/// <summary>For one category, area range and detection limit: the interpolated precision sampled at the 101 recall
/// thresholds, and the final recall, per IoU threshold ([threshold][recall point] and [threshold]).</summary>
internal sealed record PrecisionRecallCurves(double[][] Precision, double[] Recall)
{
    // numpy.spacing(1): pycocotools adds it to tp+fp so precision is defined before the first counted detection.
    private const double Epsilon = 2.220446049250313e-16;

    /// <summary>Pools the per-image matches (images in ascending id order), keeping the best
    /// <paramref name="maxDetections"/> of each image, and ranks all by score. Null when no truth counts
    /// (the category is then left out of the means).</summary>
    public static PrecisionRecallCurves? Accumulate(IReadOnlyList<ImageCategoryMatch> images, int maxDetections)
    {
        int countedTruths = images.Sum(i => i.CountedTruths);
        if (countedTruths == 0) return null;

        // (image, detection) pairs in concatenation order, then a stable sort by descending score.
        var ranked = images
            .SelectMany(image => Enumerable.Range(0, Math.Min(maxDetections, image.Scores.Length)).Select(d => (image, d)))
            .OrderByDescending(p => p.image.Scores[p.d])
            .ToArray();

        var recallThresholds = CocoProtocol.RecallThresholds;
        int thresholdCount = CocoProtocol.IouThresholds.Count;
        var precision = new double[thresholdCount][];
        var recall = new double[thresholdCount];
        for (int t = 0; t < thresholdCount; t++)
        {
            int n = ranked.Length;
            var rc = new double[n];
            var pr = new double[n];
            double tp = 0, fp = 0;
            for (int i = 0; i < n; i++)
            {
                var (image, d) = ranked[i];
                if (!image.Ignored[t][d])
                {
                    if (image.Matched[t][d]) tp++;
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
