namespace MoeDetect.Kernels.Tensors;

/// <summary>Division by a divisor known only at run time, as a multiply and a shift: n / d = (n · ⌈2⁴⁰ / d⌉) ≫ 40,
/// exact for 0 ≤ n with n · d &lt; 2⁴⁰ (the multiplier's excess over 2⁴⁰ / d is below 1, so it adds less than n / 2⁴⁰ &lt;
/// 1 / d to the quotient, too little to reach the next integer). A GPU divides by a variable in some twenty
/// instructions; the implicit GEMM's loads split every element's index three times.</summary>
public struct FastDivisor
{
    private const int Shift = 40;

    public int Divisor;
    public long Multiplier;

    /// <summary>For dividends from 0 up to <paramref name="largestDividend"/>.</summary>
    public static FastDivisor For(int divisor, long largestDividend)
    {
        if (divisor < 1) throw new ArgumentOutOfRangeException(nameof(divisor), $"divisor {divisor}: must be positive");
        if ((largestDividend + 1) * divisor >= 1L << Shift)
            throw new ArgumentOutOfRangeException(nameof(largestDividend), $"dividends up to {largestDividend} by {divisor} exceed the exact range");
        return new FastDivisor { Divisor = divisor, Multiplier = ((1L << Shift) + divisor - 1) / divisor };
    }

    public readonly int Divide(int n) => (int)((n * Multiplier) >> Shift);
}
