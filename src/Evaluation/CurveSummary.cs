namespace MoeDetect.Evaluation;

/// <summary>COCO's summary statistics over the [category, area range, detection limit] grid of curves: plain means
/// over the entries that exist, so categories without counted ground truth drop out; -1 when none exist.</summary>
internal sealed class CurveSummary(PrecisionRecallCurves?[,,] curves)
{
    /// <summary>Mean sampled precision over IoU thresholds (or just <paramref name="iouIndex"/>), recall points and
    /// categories (or just <paramref name="category"/>).</summary>
    public double Precision(int area, int limit, int? iouIndex = null, int? category = null) =>
        Mean(area, limit, category, c => Thresholds(iouIndex).SelectMany(t => c.Precision[t]));

    /// <summary>Mean final recall over all IoU thresholds and categories.</summary>
    public double Recall(int area, int limit) =>
        Mean(area, limit, null, c => c.Recall);

    private static IEnumerable<int> Thresholds(int? iouIndex) =>
        iouIndex is int t ? [t] : Enumerable.Range(0, CocoProtocol.IouThresholds.Count);

    private double Mean(int area, int limit, int? category, Func<PrecisionRecallCurves, IEnumerable<double>> values)
    {
        double sum = 0;
        long count = 0;
        var categories = category is int k ? [k] : Enumerable.Range(0, curves.GetLength(0));
        foreach (int c in categories)
        {
            if (curves[c, area, limit] is not { } curve) continue;
            foreach (double v in values(curve))
            {
                sum += v;
                count++;
            }
        }
        return count == 0 ? -1 : sum / count;
    }
}
