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
}
