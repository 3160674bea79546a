namespace MoeDetect.Model.Engines;

/// <summary>What an ES-MoE model executed for one frame: the experts chosen in each MoE block (in block order)
/// and the compute actually run, in GFLOPs (2 × multiply-accumulates).</summary>
public sealed record FrameRoute(IReadOnlyList<int[]> ExpertsPerBlock, double Gflops);
