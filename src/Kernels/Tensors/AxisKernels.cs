using ILGPU;
using ILGPU.Algorithms;

namespace MoeDetect.Kernels.Tensors;

/// <summary>Operations along one axis of a tensor viewed as [outer, axis, inner].</summary>
public static class AxisKernels
{
    /// <summary>Softmax over the middle axis of x viewed as [outer, axis, inner]; one thread per (outer, inner).</summary>
    public static void Softmax(Index1D i, ArrayView<float> x, ArrayView<float> y, int axis, int inner)
    {
        int start = i / inner * axis * inner + i % inner;
        float max = float.NegativeInfinity;
        for (int k = 0; k < axis; k++) max = XMath.Max(max, x[start + k * inner]);
        float sum = 0;
        for (int k = 0; k < axis; k++) sum += XMath.Exp(x[start + k * inner] - max);
        for (int k = 0; k < axis; k++) y[start + k * inner] = XMath.Exp(x[start + k * inner] - max) / sum;
    }

    /// <summary>ONNX Gather: x viewed as [outer, axis, inner], indices (exact floats, negative counts from the end)
    /// → y [outer, indexCount, inner].</summary>
    public static void Gather(Index1D i, ArrayView<float> x, ArrayView<float> indices, ArrayView<float> y,
        int axis, int inner, int indexCount)
    {
        int n = i % inner, t = i / inner;
        int k = t % indexCount, o = t / indexCount;
        int index = (int)indices[k];
        if (index < 0) index += axis;
        y[i] = x[(o * axis + index) * inner + n];
    }
}
