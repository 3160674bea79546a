using MoeDetect.Model.Ilgpu;
using MoeDetect.Tests.GpuEngine;
using Xunit;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>Batches queued one behind the other and collected later (<see cref="ExecutionPlan.Queue"/>, as the pixel
/// engine runs them): on the CPU accelerator a queued batch has run by the time the next is queued, so the second
/// overwrites the plan's outputs before the first is collected; each must still come back with its own.</summary>
public sealed class QueuedRunTests
{
    [Fact]
    public void Batches_queued_one_behind_the_other_are_collected_with_their_own_outputs()
    {
        using var engine = IlgpuEngine.Load(TinyDetectorGraph.Build(), "tiny", IlgpuTarget.CpuAccelerator);
        int values = 2 * 3 * TinyDetectorGraph.Size * TinyDetectorGraph.Size;
        var inputs = new[] { 11, 12 }.Select(seed => TinyOnnxGraph.RandomValues(seed, values)).ToArray();
        var expected = inputs.Select(input => engine.Run(input, 2).Tensor("output0").Data).ToList();

        Assert.True(engine.QueuesBatch(2));
        var first = engine.QueueBatch(2, values, (view, _, _) => DeviceMemory.Upload(view, inputs[0]), slot: 0);
        var second = engine.QueueBatch(2, values, (view, _, _) => DeviceMemory.Upload(view, inputs[1]), slot: 1);
        var secondOutput = engine.CollectBatch(second);
        var firstOutput = engine.CollectBatch(first);

        Assert.Equal(expected[0], firstOutput.Tensor("output0").Data);
        Assert.Equal(expected[1], secondOutput.Tensor("output0").Data);
        Assert.All(new[] { firstOutput, secondOutput }, o => Assert.True(o.Timings is { InferenceMs: >= 0, DownloadMs: >= 0, UploadMs: > 0 }));
    }
}
