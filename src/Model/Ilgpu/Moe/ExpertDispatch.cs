using System.Numerics;
using ILGPU;
using ILGPU.Runtime;
using MoeDetect.Kernels.Moe;
using MoeDetect.Model.Moe;

namespace MoeDetect.Model.Ilgpu.Moe;

/// <summary>The frames of a batch that chose one expert of an MoE block, with their router weights; the group's
/// frames and weights sit at <see cref="Offset"/> in the block's uploaded index and weight arrays.</summary>
internal sealed record ExpertGroup(int Expert, int[] Frames, float[] Weights, int Offset)
{
    /// <summary>One group per chosen expert, in expert order (the order the CPU engine adds them in).</summary>
    public static List<ExpertGroup> From(ExpertChoice[] choices, int expertCount)
    {
        var groups = new List<ExpertGroup>();
        int offset = 0;
        for (int e = 0; e < expertCount; e++)
        {
            var frames = ExpertChoice.FramesOf(choices, e).ToArray();
            if (frames.Length == 0) continue;
            var weights = frames.Select(f => choices[f].WeightOf(e)).ToArray();
            groups.Add(new ExpertGroup(e, frames, weights, offset));
            offset += frames.Length;
        }
        return groups;
    }

    /// <summary>Groups below this many frames, and what is left of larger ones below it, run as one padded run.</summary>
    public const int PaddedBelow = 8;

    /// <summary>The runs the group's frames go through its expert in: frames [Start, Start + Count) of the group, in a
    /// plan for RunBatch frames. The whole batch at once when every frame chose the expert; otherwise a run per power
    /// of two from <see cref="PaddedBelow"/> up in the group's size (largest first), and the rest (fewer than
    /// <see cref="PaddedBelow"/>) in one run padded up to a power of two, whose extra frames are computed and left
    /// unread. An expert needs at most log₂(batch) + 2 plans (each holds its own intermediate memory), and a group runs
    /// at most log₂(batch / 8) + 1 times: a 7-frame group once, in a plan for 8, not three times (4, 2 and 1), each a
    /// full set of launches that small batches leave latency-bound.</summary>
    public IEnumerable<(int Start, int Count, int RunBatch)> Chunks(int batchSize)
    {
        if (Frames.Length == batchSize)
        {
            yield return (0, batchSize, batchSize);
            yield break;
        }
        int start = 0, rest = Frames.Length % PaddedBelow;
        for (int size = 1 << 30; size >= PaddedBelow; size >>= 1)
        {
            if ((Frames.Length & size) == 0) continue;
            yield return (start, size, size);
            start += size;
        }
        if (rest > 0) yield return (start, rest, (int)BitOperations.RoundUpToPowerOf2((uint)rest));
    }
}

/// <summary>The device side of an MoE block whose frames chose different experts: the groups' frame indices and
/// weights go up in one small upload per block, frames are gathered into an expert plan's input, and expert outputs
/// are added, weighted, into the zeroed block output. The kernels launch on the library's stream, in order with the
/// experts' plans.</summary>
internal sealed class ExpertDispatch(KernelLibrary kernels) : IDisposable
{
    private MemoryBuffer1D<int, Stride1D.Dense>? _frames;
    private MemoryBuffer1D<float, Stride1D.Dense>? _weights;

    /// <summary>Uploads every group's frames and weights (they are read by launches queued after this).</summary>
    public void Upload(IReadOnlyList<ExpertGroup> groups)
    {
        var frames = groups.SelectMany(g => g.Frames).ToArray();
        var weights = groups.SelectMany(g => g.Weights).ToArray();
        if (_frames is null || _frames.Length < frames.Length)
        {
            _frames?.Dispose();
            _weights?.Dispose();
            _frames = kernels.Accelerator.Allocate1D<int>(frames.Length);
            _weights = kernels.Accelerator.Allocate1D<float>(frames.Length);
        }
        DeviceMemory.Upload(_frames.View, frames);
        DeviceMemory.Upload(_weights!.View, weights);
    }

    /// <summary>Copies <paramref name="count"/> frames of the group, from its <paramref name="start"/>th, out of the
    /// batch <paramref name="source"/> into <paramref name="target"/> (items of <paramref name="itemLength"/> values).</summary>
    public void Gather(ArrayView<float> source, ExpertGroup group, int start, int count, ArrayView<float> target, int itemLength) =>
        kernels.GatherFrames(count * itemLength, source, _frames!.View.SubView(group.Offset + start, count), target, itemLength);

    /// <summary>Adds weight × <paramref name="source"/> item j to the block output item of the group's frame
    /// (start + j); with <paramref name="sourceByFrame"/>, source is indexed by frame (an identity expert's input).</summary>
    public void Accumulate(ArrayView<float> source, ExpertGroup group, int start, int count, ArrayView<float> target, int itemLength, bool sourceByFrame) =>
        kernels.AccumulateWeighted(count * itemLength, source, _frames!.View.SubView(group.Offset + start, count),
            _weights!.View.SubView(group.Offset + start, count), target, itemLength, sourceByFrame ? 1 : 0);

    public void Dispose()
    {
        _frames?.Dispose();
        _weights?.Dispose();
    }
}
