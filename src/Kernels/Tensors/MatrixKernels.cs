using ILGPU;
using ILGPU.Algorithms;

namespace MoeDetect.Kernels.Tensors;

/// <summary>Batched product C = alpha·op(A)·op(B) + beta·bias, with element strides so transposes and broadcast
/// batches need no copies. Bias is read through its own row/column strides (0 to broadcast).</summary>
public struct MatrixProduct
{
    public int Batches, M, N, K;
    public int ABatch, ARow, ACol, BBatch, BRow, BCol;
    public int BiasRow, BiasCol, HasBias;
    public float Alpha, Beta;
}

public static class MatrixKernels
{
    public static void Multiply(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> bias, ArrayView<float> c,
        MatrixProduct p)
    {
        int col = i % p.N, t = i / p.N;
        int row = t % p.M, batch = t / p.M;
        int aBase = batch * p.ABatch + row * p.ARow, bBase = batch * p.BBatch + col * p.BCol;
        float sum = 0;
        for (int k = 0; k < p.K; k++) sum += a[aBase + k * p.ACol] * b[bBase + k * p.BRow];
        sum *= p.Alpha;
        if (p.HasBias != 0) sum += p.Beta * bias[row * p.BiasRow + col * p.BiasCol];
        c[i] = sum;
    }

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
