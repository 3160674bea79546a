using MoeDetect.Model.Engines;

namespace MoeDetect.Model.Moe;

/// <summary>What each frame of one batch executed, recorded step by step by an engine running a <c>.moedet</c>
/// model: the experts chosen per MoE block, and GFLOPs summed from the manifest (segments, routers, chosen experts).</summary>
public sealed class BatchRoutes(int batchSize)
{
    private readonly List<int[]>[] _experts = Enumerable.Range(0, batchSize).Select(_ => new List<int[]>()).ToArray();
    private readonly double[] _gflops = new double[batchSize];

    public void AddSegment(ManifestStep step)
    {
        for (int f = 0; f < batchSize; f++) _gflops[f] += step.Gflops;
    }

    public void AddBlock(ManifestStep step, (int[] Experts, double[] Weights)[] choices)
    {
        for (int f = 0; f < batchSize; f++)
        {
            _experts[f].Add(choices[f].Experts);
            _gflops[f] += step.Router!.Gflops + choices[f].Experts.Sum(e => step.Experts![e].Gflops);
        }
    }

    public FrameRoute[] ToFrameRoutes() => Enumerable.Range(0, batchSize).Select(f => new FrameRoute(_experts[f], _gflops[f])).ToArray();
}
