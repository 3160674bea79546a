using ILGPU;
using ILGPU.Runtime.CPU;
using MoeDetect.Model.Ilgpu;
using Xunit;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>The tensor-core GEMMs run whole on ILGPU's CPU accelerator, their PTX instructions emulated
/// (<see cref="MoeDetect.Kernels.Tensors.EmulatedIsa"/>) on a CPU device of 32-thread warps, 4 a group: each tile and
/// precision against the FP32 SIMT GEMM on the layers of the GPU's start-up check (<see cref="TensorCoreCheck"/>: 1×1 and
/// 3×3, strides 1 and 2, rows copied in chunks and value by value, tap-major, input scales, split-K, row segments).</summary>
public sealed class TensorCoreEmulationTests
{
    public static TheoryData<string> Kinds => new(KernelLibrary.TensorCoreKinds.Select(k => k.ToString()));

    [Theory]
    [Trait("Category", "Slow")]
    [MemberData(nameof(Kinds))]
    public void Each_tensor_core_kernel_agrees_with_the_fp32_gemm_on_the_cpu_accelerator(string kind)
    {
        using var context = Context.Create(b => b.CPU(new CPUDevice(32, 4, Environment.ProcessorCount)).EnableAlgorithms());
        using var accelerator = context.CreateCPUAccelerator(0, CPUAcceleratorMode.Parallel);
        var kernels = new KernelLibrary(accelerator);
        Assert.Null(TensorCoreCheck.Disagreement(kernels, KernelLibrary.TensorCoreKinds.Single(k => k.ToString() == kind)));
    }

    /// <summary>A graph whose convolutions each land on another tensor-core kernel (row segments of stride 1, one with a
    /// residual, and of stride 2;
    /// FP16 operands with inputs through registers and through the rounding pass; TF32), planned and compiled as on the
    /// GPU (the row segments' FP16 weights, tap-major weights, split-K), against ONNX Runtime. Bound: 1 % of each
    /// output's largest value, FP16 operands' rounding over these reductions.</summary>
    [Fact]
    [Trait("Category", "Slow")]
    public void A_graph_on_every_tensor_core_kernel_matches_onnx_runtime()
    {
        var model = new TinyOnnxGraph().Input("x", 16, 8, 16)
            .Random("w1", 81, 24, 16, 3, 3).Random("b1", 82, 24).Random("w2", 83, 20, 24, 1, 1).Random("b2", 84, 20)
            .Random("w3", 85, 16, 24, 3, 3).Random("b3", 86, 16).Random("w4", 87, 16, 16, 3, 3).Random("b4", 88, 16)
            .Random("w5", 89, 7, 20, 1, 1).Random("b5", 90, 7).Random("w6", 91, 8, 7, 1, 1).Random("b6", 92, 8)
            .Random("w7", 93, 16, 16, 3, 3).Random("b7", 94, 16)
            .Node("Conv", ["x", "w1", "b1"], ["c1"], ("pads", new[] { 1, 1, 1, 1 }))
            .Node("Sigmoid", ["c1"], ["s1"]).Node("Mul", ["c1", "s1"], ["a1"])
            .Node("Conv", ["a1", "w2", "b2"], ["c2"])
            .Node("Conv", ["a1", "w3", "b3"], ["c3"], ("strides", new[] { 2, 2 }), ("pads", new[] { 1, 1, 1, 1 }))
            .Node("Conv", ["x", "w4", "b4"], ["c4"], ("pads", new[] { 1, 1, 1, 1 })).Node("Add", ["c4", "x"], ["y4"])
            .Node("Conv", ["c2", "w5", "b5"], ["c5"]).Node("Conv", ["c5", "w6", "b6"], ["c6"])
            .Node("Conv", ["x", "w7", "b7"], ["c7"], ("strides", new[] { 2, 2 }), ("pads", new[] { 1, 1, 1, 1 }))
            .Output("a1").Output("c3").Output("y4").Output("c6").Output("c7").Build();
        int[] shape = [2, 16, 8, 16];
        var input = TinyOnnxGraph.RandomValues(7, shape.Aggregate(1, (a, b) => a * b));
        using var engine = IlgpuEngine.Load(model, "tensor-core graph", IlgpuTarget.CpuAcceleratorEmulatedTensorCores);
        var nodes = engine.Profile(batchSize: 2, iterations: 1).Select(s => s.Node).ToList();
        Assert.Equal(3, nodes.Count(n => n.Contains("on tensor cores (FP16, row segments)")));
        Assert.Equal(3, nodes.Count(n => n.Contains("on tensor cores (FP16)")));
        Assert.Single(nodes, n => n.Contains("on tensor cores") && !n.Contains("FP16"));
        var actual = engine.Run(input, 2);
        foreach (var (name, (values, outputShape)) in OrtParity.RunOrt(model, shape, input))
        {
            var tensor = actual.Tensor(name);
            Assert.Equal(outputShape, tensor.Shape);
            float largest = values.Max(Math.Abs), worst = values.Zip(tensor.Data, (e, a) => Math.Abs(e - a)).Max();
            Assert.True(worst <= 0.01f * largest, $"{name}: differs by up to {worst} from ONNX Runtime (largest {largest})");
        }
    }
}
