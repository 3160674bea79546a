using ILGPU;
using ILGPU.Runtime;
using MoeDetect.Kernels.Tensors;

namespace MoeDetect.Model.Ilgpu;

/// <summary>A convolution's weights on the device in each order a GEMM plan may read them: ONNX's, tap-major
/// (<see cref="TapMajorWeights"/>), FP16 row segments (<see cref="RowSegmentWeights"/>); each uploaded when first asked
/// for. For layers run outside a plan (the tensor-core check, the kernel bench); plans upload the one order they read.</summary>
internal sealed class GemmWeightBuffers(Accelerator accelerator, float[] weights, WindowGeometry g) : IDisposable
{
    private MemoryBuffer1D<float, Stride1D.Dense>? _plain, _tapMajor, _rowSegments;

    /// <summary>The weights in ONNX's order, [out channels, channels / groups, kernel height, kernel width].</summary>
    public ArrayView<float> Plain => Uploaded(ref _plain, () => weights);

    /// <summary>The weights plan <paramref name="p"/> reads.</summary>
    public ArrayView<float> For(PointwiseGeometry p) =>
        p.TensorCores == TensorCorePrecision.Fp16RowSegments
            ? Uploaded(ref _rowSegments, () => RowSegmentWeights.From(Array.ConvertAll(weights, v => (double)v), g.OutChannels, g.Channels))
            : p.TapMajor != 0
                ? Uploaded(ref _tapMajor, () => TapMajorWeights.From<float>(weights, g.OutChannels, g.Channels / g.Groups, g.KernelHeight * g.KernelWidth))
                : Plain;

    private ArrayView<float> Uploaded(ref MemoryBuffer1D<float, Stride1D.Dense>? buffer, Func<float[]> values) =>
        (buffer ??= accelerator.Allocate1D(values())).View;

    public void Dispose()
    {
        _plain?.Dispose();
        _tapMajor?.Dispose();
        _rowSegments?.Dispose();
    }
}
