using ILGPU;

namespace MoeDetect.Kernels.Moe;

/// <summary>Moves frames between an MoE block's batch and its experts' groups. Frames are batch items of
/// <c>itemLength</c> values; a group lists the batch indices of the frames that chose one expert.</summary>
public static class ExpertDispatchKernels
{
    /// <summary>target[j] = source[frames[j]] for each item j of the group.</summary>
    public static void GatherFrames(Index1D i, ArrayView<float> source, ArrayView<int> frames, ArrayView<float> target, int itemLength) =>
        target[i] = source[frames[i / itemLength] * itemLength + i % itemLength];

    /// <summary>target[frames[j]] += weights[j] · source[j] for each item j of the group (an expert's output), or
    /// source[frames[j]] when <paramref name="sourceByFrame"/> is 1 (an identity expert reads the block input as it
    /// is). A group lists each frame once, so no two threads write one value.</summary>
    public static void AccumulateWeighted(Index1D i, ArrayView<float> source, ArrayView<int> frames, ArrayView<float> weights,
        ArrayView<float> target, int itemLength, int sourceByFrame)
    {
        int item = i / itemLength, offset = i % itemLength;
        int frame = frames[item];
        int sourceItem = sourceByFrame != 0 ? frame : item;
        target[frame * itemLength + offset] += weights[item] * source[sourceItem * itemLength + offset];
    }
}
