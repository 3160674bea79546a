using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>A CPU accelerator with the GPU's launch shapes (32-lane warps, 256-thread groups; the engine's CPU device
/// has 2-thread groups), or with <paramref name="device"/>'s, and one convolution's random x, w and bias on it (seeds
/// seed, seed + 1, seed + 2).</summary>
internal sealed class GpuShapedLayer : IDisposable
{
    private readonly Context _context;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _x, _w, _bias;
    private readonly WindowGeometry _g;

    public GpuShapedLayer(WindowGeometry g, int seed, CPUDevice? device = null)
    {
        _g = g;
        _context = Context.Create(b => b.CPU(device ?? new CPUDevice(32, 8, 1)));
        Accelerator = _context.CreateCPUAccelerator(0);
        Kernels = new KernelLibrary(Accelerator);
        _x = Accelerator.Allocate1D(TinyOnnxGraph.RandomValues(seed, g.Batch * g.Channels * g.Height * g.Width));
        _w = Accelerator.Allocate1D(TinyOnnxGraph.RandomValues(seed + 1, g.OutChannels * g.Channels / g.Groups * g.KernelHeight * g.KernelWidth));
        _bias = Accelerator.Allocate1D(TinyOnnxGraph.RandomValues(seed + 2, g.OutChannels));
    }

    public Accelerator Accelerator { get; }
    public KernelLibrary Kernels { get; }
    public int Outputs => _g.Batch * _g.OutChannels * _g.OutHeight * _g.OutWidth;

    /// <summary>The convolution on one path, its output read back.</summary>
    public float[] Run(ConvolutionPath path, Activation activation) =>
        Run((x, scale, w, bias, y) => ConvolutionPaths.Launch(Kernels, path, x, scale, w, bias, y, _g, activation));

    /// <summary><paramref name="launch"/> given (x, scale, w, bias, y), its output read back. The scale, where g has one,
    /// is x's first values.</summary>
    public float[] Run(Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> launch) =>
        Output(y => launch(_x.View, _x.View, _w.View, _bias.View, y));

    /// <summary>The pointwise GEMM as <paramref name="p"/> has it (residual, split-K), its output read back.</summary>
    public float[] Pointwise(PointwiseGeometry p, ArrayView<float> residual, ArrayView<float> partials, Activation activation) =>
        Output(y => Kernels.PointwiseConvolution(_x.View, _x.View, _w.View, _bias.View, residual, partials, y, p, activation));

    private float[] Output(Action<ArrayView<float>> launch)
    {
        using var y = Accelerator.Allocate1D<float>(Outputs);
        launch(y.View);
        return y.GetAsArray1D();
    }

    public void Dispose()
    {
        _x.Dispose(); _w.Dispose(); _bias.Dispose();
        Accelerator.Dispose();
        _context.Dispose();
    }
}
