using ILGPU;

namespace MoeDetect.Kernels.Tensors;

/// <summary>An output tile of one plane of a depthwise convolution, as <see cref="DepthwiseTiledKernel"/> launches it.</summary>
public struct DepthwiseTiling
{
    public WindowGeometry Window;
    public int TileWidth, TileHeight, TilesAcross, TilesDown;

    /// <summary>The input rows and columns the tile's windows read (shared memory holds them all).</summary>
    public readonly int InputRows => (TileHeight - 1) * Window.StrideY + (Window.KernelHeight - 1) * Window.DilationY + 1;
    public readonly int InputColumns => (TileWidth - 1) * Window.StrideX + (Window.KernelWidth - 1) * Window.DilationX + 1;

    /// <summary>Groups to launch: one per tile of every plane (image × channel).</summary>
    public readonly long Groups => (long)Window.Batch * Window.Channels * TilesAcross * TilesDown;
}

/// <summary>Depthwise NCHW convolution through shared memory: a group reads the input window of one output tile of one
/// plane (up to 32 × 32 outputs) into shared memory, consecutive threads on consecutive columns, zero in the padding;
/// then its threads compute the tile's outputs from there, again consecutive threads on consecutive columns, so both
/// the reads and the writes of a warp are whole lines. <see cref="DepthwiseConvolutionKernel"/> reads each input value
/// from global memory once per thread that needs it, each thread 4 columns apart from the next (a quarter of each
/// line a read). Works with any group size (the CPU accelerator's are tiny). Where
/// <see cref="WindowGeometry.ScalesInput"/> is 1 the window's sum is multiplied by scale[n, c] (as the span kernel does).
/// Launch with dynamic shared memory of <see cref="DepthwiseTiling.InputRows"/> × <see cref="DepthwiseTiling.InputColumns"/>
/// floats.</summary>
public static class DepthwiseTiledKernel
{
    public const int MaxTileSide = 32;
    private const int MinTileSide = 8;

    /// <summary>Floats of shared memory a group may take (48 KB, the default limit of a CUDA launch).</summary>
    private const int MaxWindowFloats = 12 * 1024;

    /// <summary>Whether the tiles' input windows of g, a depthwise convolution, fit shared memory (strides up to 3 with
    /// a 5 × 5 kernel do).</summary>
    public static bool Fits(WindowGeometry g)
    {
        var t = Tiling(g);
        return (long)t.InputRows * t.InputColumns <= MaxWindowFloats;
    }

    /// <summary>Tiles as wide and tall as the output needs (powers of two from 8 to 32).</summary>
    public static DepthwiseTiling Tiling(WindowGeometry g)
    {
        int width = Side(g.OutWidth), height = Side(g.OutHeight);
        return new DepthwiseTiling
        {
            Window = g, TileWidth = width, TileHeight = height,
            TilesAcross = (g.OutWidth + width - 1) / width, TilesDown = (g.OutHeight + height - 1) / height,
        };
    }

    private static int Side(int extent)
    {
        int side = MinTileSide;
        while (side < MaxTileSide && side < extent) side *= 2;
        return side;
    }

    public static void Run(ArrayView<float> x, ArrayView<float> scale, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y,
        DepthwiseTiling t, Activation activation)
    {
        var g = t.Window;
        var window = SharedMemory.GetDynamic<float>();
        int tiles = t.TilesAcross * t.TilesDown;
        int plane = Grid.IdxX / tiles, tile = Grid.IdxX % tiles, c = plane % g.Channels;
        int oy0 = tile / t.TilesAcross * t.TileHeight, ox0 = tile % t.TilesAcross * t.TileWidth;
        int iy0 = oy0 * g.StrideY - g.PadTop, ix0 = ox0 * g.StrideX - g.PadLeft;
        int rows = t.InputRows, columns = t.InputColumns;
        int threads = Group.DimX, thread = Group.IdxX;
        long planeStart = (long)plane * g.Height * g.Width;
        for (int i = thread; i < rows * columns; i += threads)
        {
            int iy = iy0 + i / columns, ix = ix0 + i % columns;
            window[i] = iy >= 0 && iy < g.Height && ix >= 0 && ix < g.Width ? x[planeStart + (long)iy * g.Width + ix] : 0f;
        }
        Group.Barrier();

        bool scaled = g.ScalesInput != 0;
        // As the span kernel: unscaled, the sum starts at the bias; scaled, the bias comes after the scale.
        float b = bias[c], start = scaled ? 0f : b, factor = scaled ? scale[plane / g.Channels * g.ScaleImageStride + c] : 1f;
        int taps = g.KernelHeight * g.KernelWidth, weights = c * taps;
        long outputStart = (long)plane * g.OutHeight * g.OutWidth;
        for (int o = thread; o < t.TileHeight * t.TileWidth; o += threads)
        {
            int row = o / t.TileWidth, column = o % t.TileWidth;
            int oy = oy0 + row, ox = ox0 + column;
            if (oy >= g.OutHeight || ox >= g.OutWidth) continue;
            float sum = start;
            int at = row * g.StrideY * columns + column * g.StrideX;
            for (int ky = 0; ky < g.KernelHeight; ky++)
            {
                int line = at + ky * g.DilationY * columns;
                for (int kx = 0; kx < g.KernelWidth; kx++) sum += w[weights + ky * g.KernelWidth + kx] * window[line + kx * g.DilationX];
            }
            if (scaled) sum = sum * factor + b;
            y[outputStart + (long)oy * g.OutWidth + ox] = ElementwiseKernels.ApplyFused(sum, activation);
        }
    }
}
