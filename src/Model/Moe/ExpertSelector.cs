namespace MoeDetect.Model.Moe;

/// <summary>Turns one MoE block's router logits for one frame into the experts to run and their weights:
/// softmax(logits / temperature); top-k, or top-p ("harder inputs need more experts": add experts in descending
/// probability until their cumulative probability reaches p); experts whose renormalised weight falls below
/// min_weight are dropped (the first always stays). In video mode, a stream keeps its previous first choice unless
/// a new expert's probability beats it by more than the hysteresis margin, which damps flapping between frames.</summary>
public sealed class ExpertSelector(RoutingSettings settings)
{
    private readonly Dictionary<(string Stream, int Block), int> _lastFirstChoice = [];

    public RoutingSettings Settings { get; } = settings;

    public static double[] Softmax(ReadOnlySpan<float> logits, double temperature)
    {
        var p = new double[logits.Length];
        double max = double.NegativeInfinity;
        foreach (float l in logits) max = Math.Max(max, l / temperature);
        double sum = 0;
        for (int i = 0; i < p.Length; i++) sum += p[i] = Math.Exp(logits[i] / temperature - max);
        for (int i = 0; i < p.Length; i++) p[i] /= sum;
        return p;
    }

    /// <summary>Chosen experts (first = strongest) with weights summing to 1. <paramref name="stream"/> enables
    /// video hysteresis for frames of one camera or file; null disables it.</summary>
    public (int[] Experts, double[] Weights) Select(ReadOnlySpan<float> logits, int block, string? stream)
    {
        var probabilities = Softmax(logits, Settings.Temperature);
        var order = Enumerable.Range(0, probabilities.Length).OrderByDescending(i => probabilities[i]).ToList();
        if (stream is not null && Settings.VideoHysteresis > 0 && _lastFirstChoice.TryGetValue((stream, block), out int previous)
            && probabilities[order[0]] - probabilities[previous] <= Settings.VideoHysteresis)
        {
            order.Remove(previous);
            order.Insert(0, previous);
        }

        var chosen = new List<int>();
        double cumulative = 0;
        foreach (int e in order)
        {
            bool enough = Settings.Mode == "top-p" ? cumulative >= Settings.P : chosen.Count >= Settings.K;
            if (chosen.Count > 0 && enough) break;
            chosen.Add(e);
            cumulative += probabilities[e];
        }

        double total = chosen.Sum(e => probabilities[e]);
        var kept = chosen.Where((e, rank) => rank == 0 || probabilities[e] / total >= Settings.MinWeight).ToArray();
        double keptTotal = kept.Sum(e => probabilities[e]);
        if (stream is not null) _lastFirstChoice[(stream, block)] = kept[0];
        return (kept, kept.Select(e => probabilities[e] / keptTotal).ToArray());
    }
}
