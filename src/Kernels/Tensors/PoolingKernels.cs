using ILGPU;

namespace MoeDetect.Kernels.Tensors;

public enum PoolMode { Max, Average, AverageIncludingPad }

/// <summary>Window pooling over NCHW (OutChannels = Channels) and reductions over a contiguous block of axes.</summary>
public static class PoolingKernels
{
    public static void Pool(Index1D i, ArrayView<float> x, ArrayView<float> y, WindowGeometry g, PoolMode mode)
    {
        int ox = i % g.OutWidth, t = i / g.OutWidth;
        int oy = t % g.OutHeight; t /= g.OutHeight;
        int plane = t * g.Height;
        float acc = mode == PoolMode.Max ? float.NegativeInfinity : 0f;
        int count = 0;
        for (int ky = 0; ky < g.KernelHeight; ky++)
        {
            int iy = oy * g.StrideY - g.PadTop + ky * g.DilationY;
            for (int kx = 0; kx < g.KernelWidth; kx++)
            {
                int ix = ox * g.StrideX - g.PadLeft + kx * g.DilationX;
                bool inside = iy >= 0 && iy < g.Height && ix >= 0 && ix < g.Width;
                if (mode == PoolMode.AverageIncludingPad && iy < g.Height + g.PadTop && ix < g.Width + g.PadLeft) count++;
                if (!inside) continue;
                float v = x[(plane + iy) * g.Width + ix];
                if (mode == PoolMode.Max) acc = v > acc ? v : acc;
                else { acc += v; if (mode == PoolMode.Average) count++; }
            }
        }
        y[i] = mode == PoolMode.Max ? acc : acc / count;
    }

    /// <summary>x viewed as [outer, reduced, inner] → y [outer, inner]; one thread per output.</summary>
    public static void Reduce(Index1D i, ArrayView<float> x, ArrayView<float> y, int reduced, int inner, ReduceMode mode)
    {
        int o = i / inner, n = i % inner;
        int start = o * reduced * inner + n;
        float acc = mode == ReduceMode.Max ? float.NegativeInfinity : 0f;
        for (int r = 0; r < reduced; r++)
        {
            float v = x[start + r * inner];
            acc = mode == ReduceMode.Max ? (v > acc ? v : acc) : acc + v;
        }
        y[i] = mode == ReduceMode.Mean ? acc / reduced : acc;
    }
}

public enum ReduceMode { Mean, Sum, Max }
