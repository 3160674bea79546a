namespace MoeDetect.Conversion.Tfjs;

/// <summary>Element types a TFJS constant can carry once dequantized.</summary>
public enum TfjsDType { Float32, Int32, Bool }

/// <summary>A constant of a TFJS graph (a weight or a folded shape computation), already dequantized.</summary>
public sealed class TfjsTensor
{
    private TfjsTensor(TfjsDType dtype, int[] shape, float[]? floats, int[]? ints)
    {
        DType = dtype;
        Shape = shape;
        Floats = floats;
        Ints = ints;
    }

    public TfjsDType DType { get; }
    public int[] Shape { get; }
    /// <summary>Values of a Float32 tensor, row-major.</summary>
    public float[]? Floats { get; }
    /// <summary>Values of an Int32 or Bool (0/1) tensor, row-major.</summary>
    public int[]? Ints { get; }

    public int ElementCount => Shape.Aggregate(1, (a, b) => a * b);

    public static TfjsTensor OfFloats(float[] values, params int[] shape) => new(TfjsDType.Float32, Checked(shape, values.Length), values, null);
    public static TfjsTensor OfInts(int[] values, params int[] shape) => new(TfjsDType.Int32, Checked(shape, values.Length), null, values);
    public static TfjsTensor OfBools(int[] values, params int[] shape) => new(TfjsDType.Bool, Checked(shape, values.Length), null, values);

    /// <summary>The integer values, for constants that steer the graph (axes, shapes, paddings).</summary>
    public long[] AsLongs() => Ints?.Select(v => (long)v).ToArray()
        ?? throw new InvalidOperationException("a float tensor was used where integers are required");

    private static int[] Checked(int[] shape, int count)
    {
        var expected = shape.Aggregate(1, (a, b) => a * b);
        if (expected != count)
            throw new ArgumentException($"shape [{string.Join(",", shape)}] needs {expected} values, got {count}");
        return shape;
    }
}
