namespace MoeDetect.Evaluation;

/// <summary>An inclusive range of object areas (pixels²); both ends count as inside, as in pycocotools.</summary>
public sealed record AreaRange(string Label, double Min, double Max)
{
    public bool Contains(double area) => area >= Min && area <= Max;
}

/// <summary>The fixed settings of the COCO bbox protocol. Thresholds are generated the way numpy.linspace does
/// (i·step + start, last element set to the end) so they are bit-identical to pycocotools' and boundary cases
/// (an IoU of exactly 0.6, a recall of exactly 0.35) fall on the same side.</summary>
public static class CocoProtocol
{
    /// <summary>0.50, 0.55, …, 0.95.</summary>
    public static IReadOnlyList<double> IouThresholds { get; } = Linspace(0.5, 0.95, 10);

    /// <summary>0.00, 0.01, …, 1.00: where the interpolated precision curve is sampled.</summary>
    public static IReadOnlyList<double> RecallThresholds { get; } = Linspace(0.0, 1.0, 101);

    public static AreaRange AllAreas { get; } = new("all", 0, 1e10);
    public static AreaRange SmallAreas { get; } = new("small", 0, 32 * 32);
    public static AreaRange MediumAreas { get; } = new("medium", 32 * 32, 96 * 96);
    public static AreaRange LargeAreas { get; } = new("large", 96 * 96, 1e10);
    public static IReadOnlyList<AreaRange> AreaRanges { get; } = [AllAreas, SmallAreas, MediumAreas, LargeAreas];

    public const int DefaultMaxDetections = 100;

    private static double[] Linspace(double start, double stop, int count)
    {
        double step = (stop - start) / (count - 1);
        var values = new double[count];
        for (int i = 0; i < count; i++) values[i] = i * step + start;
        values[^1] = stop;
        return values;
    }
}
