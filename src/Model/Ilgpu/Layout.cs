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

    /// <summary>Whether <paramref name="small"/>, without leading 1s, equals the trailing dimensions of <paramref name="shape"/>.</summary>
    public static bool IsTrailingBlock(int[] small, int[] shape)
    {
        var trimmed = small.SkipWhile(d => d == 1).ToArray();
        return trimmed.Length <= shape.Length && trimmed.SequenceEqual(shape[(shape.Length - trimmed.Length)..]);
    }
}
