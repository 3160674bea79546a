using MoeDetect.Model.Moe;

namespace MoeDetect.Tests.Moe;

public class ExpertSelectorTests
{
    private static float[] LogitsFor(params double[] probabilities) => probabilities.Select(p => (float)Math.Log(p)).ToArray();

    [Fact]
    public void Softmax_with_temperature_flattens_the_distribution()
    {
        var sharp = ExpertSelector.Softmax([2f, 0f], 1);
        var flat = ExpertSelector.Softmax([2f, 0f], 4);
        Assert.Equal(1 / (1 + Math.Exp(-2)), sharp[0], 9);
        Assert.Equal(1 / (1 + Math.Exp(-0.5)), flat[0], 9);
    }

    [Fact]
    public void Top_k_takes_the_k_most_probable_and_renormalises()
    {
        var selector = new ExpertSelector(new RoutingSettings { Mode = "top-k", K = 2 });
        var (experts, weights) = selector.Select(LogitsFor(0.1, 0.5, 0.3, 0.1), 0, null);
        Assert.Equal([1, 2], experts);
        Assert.Equal(0.625, weights[0], 6);
        Assert.Equal(0.375, weights[1], 6);
    }

    [Fact]
    public void Top_p_gives_confident_frames_one_expert_and_uncertain_frames_more()
    {
        var selector = new ExpertSelector(new RoutingSettings { Mode = "top-p", P = 0.6 });
        Assert.Equal([0], selector.Select(LogitsFor(0.7, 0.2, 0.1), 0, null).Experts);
        Assert.Equal([0, 1, 2], selector.Select(LogitsFor(0.3, 0.25, 0.25, 0.2), 0, null).Experts);
    }

    [Fact]
    public void Top_p_stops_as_soon_as_the_cumulative_probability_reaches_p()
    {
        var selector = new ExpertSelector(new RoutingSettings { Mode = "top-p", P = 0.6 });
        // 0.35 < 0.6 → add 0.25 (cum 0.60 ≥ 0.6) → stop: two experts.
        Assert.Equal([0, 2], selector.Select(LogitsFor(0.35, 0.2, 0.25, 0.2), 0, null).Experts);
    }

    [Fact]
    public void Min_weight_drops_weak_secondary_experts_but_never_the_first()
    {
        var selector = new ExpertSelector(new RoutingSettings { Mode = "top-k", K = 2, MinWeight = 0.4 });
        var (experts, weights) = selector.Select(LogitsFor(0.8, 0.15, 0.05), 0, null);
        Assert.Equal([0], experts);
        Assert.Equal([1.0], weights);
    }

    [Fact]
    public void Video_hysteresis_keeps_the_previous_expert_until_another_wins_clearly()
    {
        var selector = new ExpertSelector(new RoutingSettings { K = 1, VideoHysteresis = 0.2 });
        Assert.Equal([0], selector.Select(LogitsFor(0.6, 0.4), 0, "cam").Experts);
        Assert.Equal([0], selector.Select(LogitsFor(0.45, 0.55), 0, "cam").Experts);   // margin 0.10 ≤ 0.2: stays
        Assert.Equal([1], selector.Select(LogitsFor(0.45, 0.55), 0, "other").Experts); // another stream has no history
        Assert.Equal([1], selector.Select(LogitsFor(0.3, 0.7), 0, "cam").Experts);     // margin 0.40: switches
        Assert.Equal([1], selector.Select(LogitsFor(0.45, 0.55), 0, null).Experts);    // no stream: no hysteresis
    }
}

public class RouteStatisticsTests
{
    [Fact]
    public void Flip_rate_counts_route_changes_between_consecutive_frames_of_each_source()
    {
        var stats = new MoeDetect.Pipeline.Inference.RouteStatistics();
        MoeDetect.Model.Engines.FrameRoute R(params int[] firstBlock) => new([firstBlock, [0]], firstBlock.Length);
        stats.Add("a", R(0)); stats.Add("a", R(0)); stats.Add("a", R(1)); stats.Add("a", R(1, 2));   // 2 flips in 3 pairs
        stats.Add("b", R(1)); stats.Add("b", R(1));                                                  // 0 flips in 1 pair
        var summary = stats.Summarise()!;
        Assert.Equal(0.5, summary.FlipRate, 9);
        Assert.Equal([[2, 4, 1], [6]], summary.ExpertUsage);
        Assert.Equal((1.0, 2.0), (summary.MinGflops, summary.MaxGflops));
    }
}
