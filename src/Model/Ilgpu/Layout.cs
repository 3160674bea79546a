using MoeDetect.Kernels.Tensors;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Row-major tensor geometry shared by the compiler and host folding.</summary>
internal static class Layout
{
    /// <summary>One strided copy: <see cref="Sizes"/> elements read from source tensor <see cref="Source"/> through its
    /// strides and written to target tensor <see cref="Target"/> through its. Transpose, Concat, Split, Slice and
    /// Expand are all sets of such copies.</summary>
    public sealed record Region(int Source, int Target, int[] Sizes, int[] SourceStrides, int SourceStart, int[] TargetStrides, int TargetStart);

    public static int[] Strides(int[] shape)
    {
        var strides = new int[shape.Length];
        int stride = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { strides[i] = stride; stride *= shape[i]; }
        return strides;
    }

    /// <summary>Strides that read a tensor of <paramref name="shape"/> broadcast to <paramref name="target"/> (0 on broadcast axes).</summary>
    public static Dims6 BroadcastStrides(int[] shape, int[] target) => Dims6.From(BroadcastStrideArray(shape, target), 0);

    public static int[] BroadcastStrideArray(int[] shape, int[] target)
    {
        var strides = new int[target.Length];
        int stride = 1, offset = target.Length - shape.Length;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            strides[offset + i] = shape[i] == 1 ? 0 : stride;
            stride *= shape[i];
        }
        return strides;
    }

    /// <summary>Numpy broadcasting of two shapes; null when they do not broadcast.</summary>
    public static int[]? Broadcast(int[] a, int[] b)
    {
        int rank = Math.Max(a.Length, b.Length);
        var shape = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i - (rank - a.Length) >= 0 ? a[i - (rank - a.Length)] : 1;
            int db = i - (rank - b.Length) >= 0 ? b[i - (rank - b.Length)] : 1;
            if (da != db && da != 1 && db != 1) return null;
            shape[i] = da == 1 ? db : da;
        }
        return shape;
    }

    /// <summary>A shape viewed as [product before <paramref name="from"/>, product of [from, to), product from <paramref name="to"/>].</summary>
    public static (int Outer, int Middle, int Inner) Split3(int[] shape, int from, int to)
    {
        int Product(int s, int e) { int p = 1; for (int i = s; i < e; i++) p *= shape[i]; return p; }
        return (Product(0, from), Product(from, to), Product(to, shape.Length));
    }

    /// <summary>Where <paramref name="small"/>, without its leading and trailing 1s, equals a run of adjacent dimensions
    /// of <paramref name="shape"/> ending where its own trailing 1s begin (a per-channel [1, C, 1, 1] or [N, C, 1, 1] gate
    /// over NCHW, a per-channel NHWC bias, a scalar): the product of <paramref name="shape"/>'s dimensions after that run,
    /// which the broadcast value repeats over. Null where it broadcasts some other way.</summary>
    public static int? BlockRepeat(int[] small, int[] shape)
    {
        if (small.Length > shape.Length) return null;
        int offset = shape.Length - small.Length, last = small.Length - 1;
        while (last >= 0 && small[last] == 1) last--;
        int first = 0;
        while (first <= last && small[first] == 1) first++;
        for (int i = first; i <= last; i++)
            if (small[i] != shape[offset + i]) return null;
        return Split3(shape, 0, offset + last + 1).Inner;
    }
}
