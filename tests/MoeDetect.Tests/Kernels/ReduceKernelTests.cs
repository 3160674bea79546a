using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;
using MoeDetect.Tests.Ilgpu;

namespace MoeDetect.Tests.Kernels;

/// <summary>Reductions as <see cref="KernelLibrary.Reduce"/> launches them, on a CPU accelerator with the GPU's group
/// shapes (256 threads a group, a 256-thread "device"): a short reduction into few outputs takes a group per 32 outputs
/// (YOLOv8's best class score at batch 1), into many a thread per output; a long one a group per output block. Each
/// against the same reduction on the host.</summary>
public class ReduceKernelTests
{
    [Theory]
    [InlineData(2, 80, 40)]     // 80 outputs, under half the device's 256 threads: groups, 32 outputs each, the last part-filled
    [InlineData(2, 80, 300)]    // 600 outputs: a thread per output
    [InlineData(3, 200, 5)]     // a long reduction: groups, one output each
    public void Reductions_match_the_host(int outer, int reduced, int inner)
    {
        using var context = Context.Create(b => b.CPU(new CPUDevice(32, 8, 1)));
        using var accelerator = context.CreateCPUAccelerator(0);
        var values = TinyOnnxGraph.RandomValues(91, outer * reduced * inner, scale: 5);
        using var x = accelerator.Allocate1D<float>(values);
        using var y = accelerator.Allocate1D<float>(outer * inner);
        var kernels = new KernelLibrary(accelerator);
        foreach (var mode in Enum.GetValues<ReduceMode>())
        {
            y.MemSetToZero();
            kernels.Reduce(x.View, y.View, outer, reduced, inner, mode);
            accelerator.Synchronize();
            var actual = y.GetAsArray1D();
            for (int o = 0; o < outer; o++)
                for (int n = 0; n < inner; n++)
                {
                    var run = Enumerable.Range(0, reduced).Select(r => values[(o * reduced + r) * inner + n]).ToArray();
                    float expected = mode switch { ReduceMode.Max => run.Max(), ReduceMode.Sum => run.Sum(), _ => run.Average() };
                    Assert.True(Math.Abs(actual[o * inner + n] - expected) <= 1e-4f * Math.Max(1, Math.Abs(expected)),
                        $"{mode} of output ({o}, {n}): {actual[o * inner + n]}, expected {expected}");
                }
        }
    }
}
