using MoeDetect.Kernels.Tensors;

namespace MoeDetect.Tests.Kernels;

public class FastDivisorTests
{
    [Theory]
    [InlineData(1, 1 << 20)]
    [InlineData(3, 1 << 20)]
    [InlineData(7, 1 << 20)]
    [InlineData(9, 6480)]      // 3×3 taps of a 720-channel reduction
    [InlineData(25, 1 << 20)]
    [InlineData(640, 640 * 640)] // output width of a 640 × 640 map
    [InlineData(1000003, 1000)]
    public void Divides_exactly_over_its_range(int divisor, int largestDividend)
    {
        var d = FastDivisor.For(divisor, largestDividend);
        for (int n = 0; n <= largestDividend; n++)
            if (d.Divide(n) != n / divisor) Assert.Fail($"{n} / {divisor}: {d.Divide(n)}, not {n / divisor}");
    }

    [Fact]
    public void Divides_exactly_at_the_top_of_the_exact_range()
    {
        // Where n · d nears 2⁴⁰ the multiplier's excess counts most: 1.1 billion by 997.
        const int divisor = 997;
        long largest = (1L << 40) / divisor - 2;
        var d = FastDivisor.For(divisor, largest);
        for (long n = largest - 5 * divisor; n <= largest; n++)
            Assert.Equal(n / divisor, d.Divide((int)n));
    }

    [Fact]
    public void Refuses_a_range_it_cannot_divide_exactly()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => FastDivisor.For(1 << 20, 1 << 20));
        Assert.Throws<ArgumentOutOfRangeException>(() => FastDivisor.For(0, 10));
    }
}
