using ILGPU;

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
}
