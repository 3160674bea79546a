namespace MoeDetect.Kernels.Tensors;

/// <summary>Six sizes or strides, innermost last; shorter shapes are padded with leading 1s (strides with 0s).
/// Kernels cannot take arrays by value, so tensor geometry travels in this fixed-size struct.</summary>
public struct Dims6
{
    public int D0, D1, D2, D3, D4, D5;

    public Dims6(int d0, int d1, int d2, int d3, int d4, int d5)
    {
        D0 = d0; D1 = d1; D2 = d2; D3 = d3; D4 = d4; D5 = d5;
    }

    /// <summary>Right-aligns <paramref name="values"/> into six slots, filling the rest with <paramref name="fill"/>.</summary>
    public static Dims6 From(ReadOnlySpan<int> values, int fill)
    {
        if (values.Length > 6) throw new ArgumentException($"tensors of rank {values.Length} exceed the supported rank 6");
        Span<int> d = stackalloc int[6];
        d.Fill(fill);
        values.CopyTo(d[(6 - values.Length)..]);
        return new Dims6(d[0], d[1], d[2], d[3], d[4], d[5]);
    }

    /// <summary>Offset of the flat row-major index <paramref name="index"/> of a tensor of sizes <paramref name="sizes"/>
    /// in a tensor laid out with <paramref name="strides"/>.</summary>
    public static int Offset(int index, Dims6 sizes, Dims6 strides)
    {
        int offset = 0, rest = index;
        offset += rest % sizes.D5 * strides.D5; rest /= sizes.D5;
        offset += rest % sizes.D4 * strides.D4; rest /= sizes.D4;
        offset += rest % sizes.D3 * strides.D3; rest /= sizes.D3;
        offset += rest % sizes.D2 * strides.D2; rest /= sizes.D2;
        offset += rest % sizes.D1 * strides.D1; rest /= sizes.D1;
        offset += rest % sizes.D0 * strides.D0;
        return offset;
    }

    /// <summary>Offsets of the flat row-major index <paramref name="index"/> in two layouts of the same sizes, the index
    /// split once for both. Dimensions of size 1 are skipped by a branch every thread takes alike (after
    /// <see cref="Collapse"/> most are 1), so a copy pays a division only per dimension it really has.</summary>
    public static OffsetPair Offsets(int index, Dims6 sizes, Dims6 aStrides, Dims6 bStrides)
    {
        var at = new OffsetPair();
        int rest = index;
        if (sizes.D5 != 1) rest = at.Step(rest, sizes.D5, aStrides.D5, bStrides.D5);
        if (sizes.D4 != 1) rest = at.Step(rest, sizes.D4, aStrides.D4, bStrides.D4);
        if (sizes.D3 != 1) rest = at.Step(rest, sizes.D3, aStrides.D3, bStrides.D3);
        if (sizes.D2 != 1) rest = at.Step(rest, sizes.D2, aStrides.D2, bStrides.D2);
        if (sizes.D1 != 1) rest = at.Step(rest, sizes.D1, aStrides.D1, bStrides.D1);
        // What is left is the outermost index (index < the product of the sizes): no division needed.
        at.A += rest * aStrides.D0;
        at.B += rest * bStrides.D0;
        return at;
    }

    /// <summary>The same walk over fewer dimensions: size-1 dimensions dropped and each dimension merged into its inner
    /// neighbour where both layouts hold them as one run (outer stride = inner size · inner stride), right-aligned.
    /// Concat, Split and Transpose copies of 3- to 5-dimensional tensors come down to one to three dimensions.</summary>
    public static (Dims6 Sizes, Dims6 A, Dims6 B) Collapse(Dims6 sizes, Dims6 aStrides, Dims6 bStrides)
    {
        var kept = new List<(int Size, int A, int B)>();
        var (s, a, b) = (sizes.ToArray(), aStrides.ToArray(), bStrides.ToArray());
        for (int d = 0; d < 6; d++)
        {
            if (s[d] == 1) continue;
            if (kept.Count > 0 && kept[^1].A == s[d] * a[d] && kept[^1].B == s[d] * b[d])
                kept[^1] = (kept[^1].Size * s[d], a[d], b[d]);
            else
                kept.Add((s[d], a[d], b[d]));
        }
        return (From(kept.Select(k => k.Size).ToArray(), 1), From(kept.Select(k => k.A).ToArray(), 0), From(kept.Select(k => k.B).ToArray(), 0));
    }

    private readonly int[] ToArray() => [D0, D1, D2, D3, D4, D5];
}

/// <summary>An index's offsets in two layouts (<see cref="Dims6.Offsets"/>).</summary>
public struct OffsetPair
{
    public int A, B;

    /// <summary>Takes the index along one dimension out of <paramref name="rest"/>, adds its offsets, returns the rest.</summary>
    public int Step(int rest, int size, int aStride, int bStride)
    {
        int outer = rest / size, inner = rest - outer * size;
        A += inner * aStride;
        B += inner * bStride;
        return outer;
    }
}
