using System.Numerics;
using ILGPU.Runtime;
using MoeDetect.Model.Ilgpu;
using MoeDetect.Model.Ilgpu.Moe;
using MoeDetect.Model.Moe;

namespace MoeDetect.Tests.Kernels;

/// <summary>The MoE dispatch kernels on ILGPU's CPU accelerator against a plain C# computation: frames of a batch
/// gathered per expert group, and expert outputs added, weighted, into the block output.</summary>
public sealed class ExpertDispatchKernelTests
{
    // Seven frames of 5 values; frame f chose the experts listed (first = strongest) with these weights.
    private static readonly ExpertChoice[] Choices =
    [
        new([0], [1.0]), new([2, 0], [0.7, 0.3]), new([1], [1.0]), new([0, 1], [0.6, 0.4]), new([2], [1.0]), new([0], [1.0]), new([1, 2], [0.55, 0.45]),
    ];
    private const int ItemLength = 5;

    [Fact]
    public void Groups_list_each_experts_frames_in_batch_order_with_their_weights()
    {
        var groups = ExpertGroup.From(Choices, expertCount: 4);
        Assert.Equal([0, 1, 2], groups.Select(g => g.Expert));
        Assert.Equal([0, 1, 3, 5], groups[0].Frames);
        Assert.Equal([1f, 0.3f, 0.6f, 1f], groups[0].Weights);
        Assert.Equal([0, 4, 7], groups.Select(g => g.Offset));
        Assert.Equal([(0, 4, 4)], groups[0].Chunks(batchSize: 7));
        Assert.Equal([(0, 3, 4)], groups[1].Chunks(batchSize: 7));
        Assert.Equal([(0, 7, 7)], Group(7).Chunks(batchSize: 7));
        Assert.Equal([(0, 7, 8)], Group(7).Chunks(batchSize: 8));
    }

    [Fact]
    public void Large_groups_run_in_powers_of_two_and_their_rest_in_one_padded_run()
    {
        Assert.Equal([(0, 16, 16), (16, 8, 8), (24, 5, 8)], Group(29).Chunks(batchSize: 32));
        Assert.Equal([(0, 16, 16), (16, 1, 1)], Group(17).Chunks(batchSize: 32));
        Assert.Equal([(0, 8, 8)], Group(8).Chunks(batchSize: 32));
        Assert.Equal([(0, 32, 32)], Group(32).Chunks(batchSize: 32));
        // Every frame once, and a plan size for every batch that is a power of two (or the whole batch).
        foreach (int size in Enumerable.Range(1, 31))
        {
            var runs = Group(size).Chunks(batchSize: 32).ToList();
            Assert.Equal(Enumerable.Range(0, size), runs.SelectMany(r => Enumerable.Range(r.Start, r.Count)));
            Assert.All(runs, r => Assert.True(r.RunBatch >= r.Count && BitOperations.IsPow2(r.RunBatch)));
        }
    }

    private static ExpertGroup Group(int frames) => new(0, Enumerable.Range(0, frames).ToArray(), new float[frames], 0);

    [Fact]
    public void Gather_and_weighted_accumulate_match_a_plain_computation()
    {
        var random = new Random(3);
        var batch = Enumerable.Range(0, Choices.Length * ItemLength).Select(_ => (float)random.NextDouble() * 2 - 1).ToArray();
        // Expert e multiplies by (e + 2); expert 2 is the identity, read from the batch by frame.
        var expected = new float[batch.Length];
        for (int f = 0; f < Choices.Length; f++)
            for (int c = 0; c < Choices[f].Experts.Length; c++)
                for (int i = 0; i < ItemLength; i++)
                {
                    int e = Choices[f].Experts[c];
                    expected[f * ItemLength + i] += (float)Choices[f].Weights[c] * (e == 2 ? 1 : e + 2) * batch[f * ItemLength + i];
                }

        using var device = IlgpuDevice.Open(IlgpuTarget.CpuAccelerator);
        var accelerator = device.Accelerator;
        using var dispatch = new ExpertDispatch(new KernelLibrary(accelerator, device.Stream));
        using var source = accelerator.Allocate1D(batch);
        using var output = accelerator.Allocate1D<float>(batch.Length);
        output.MemSetToZero();
        var groups = ExpertGroup.From(Choices, expertCount: 3);
        dispatch.Upload(groups);
        foreach (var group in groups)
        {
            if (group.Expert == 2)
            {
                dispatch.Accumulate(source.View, group, 0, group.Frames.Length, output.View, ItemLength, sourceByFrame: true);
                continue;
            }
            foreach (var (start, count, runBatch) in group.Chunks(Choices.Length))
            {
                // A padded run: its extra frames hold something else (here NaN), which must not reach the output.
                using var gathered = accelerator.Allocate1D(Enumerable.Repeat(float.NaN, runBatch * ItemLength).ToArray());
                dispatch.Gather(source.View, group, start, count, gathered.View, ItemLength);
                var values = gathered.GetAsArray1D();
                for (int j = 0; j < count; j++)
                    Assert.Equal(batch.AsSpan(group.Frames[start + j] * ItemLength, ItemLength).ToArray(), values.AsSpan(j * ItemLength, ItemLength).ToArray());
                using var expertOutput = accelerator.Allocate1D(values.Select(v => v * (group.Expert + 2)).ToArray());
                dispatch.Accumulate(expertOutput.View, group, start, count, output.View, ItemLength, sourceByFrame: false);
            }
        }
        var actual = output.GetAsArray1D();
        Assert.Equal(expected, actual, (a, b) => Math.Abs(a - b) <= 1e-6f);
    }
}
