using MoeDetect.Kernels.Tensors;

namespace MoeDetect.Tests.Kernels;

/// <summary>The copy kernel walks collapsed dimensions (<see cref="Dims6.Collapse"/>) with one index split for both
/// layouts (<see cref="Dims6.Offsets"/>): every index must land where the plain walk over the original dimensions puts it.</summary>
public class Dims6CollapseTests
{
    public static TheoryData<int[], int[], int[], int> Copies => new()
    {
        // YOLOv8's head: a level's [2, 144, 400] placed at column 6400 of [2, 144, 8400] (Concat on the last axis)
        { [2, 144, 400], [144 * 400, 400, 1], [144 * 8400, 8400, 1], 2 },
        // its Split of [2, 144, 8400] along axis 1: the first 64 rows
        { [2, 64, 8400], [144 * 8400, 8400, 1], [64 * 8400, 8400, 1], 2 },
        // DFL's Transpose [2, 4, 16, 8400] → [2, 16, 4, 8400], walked in the target's order
        { [2, 16, 4, 8400], [4 * 16 * 8400, 8400, 16 * 8400, 1], [16 * 4 * 8400, 4 * 8400, 8400, 1], 4 },
        // a contiguous tensor copied whole, and a 4-D channel range read with an image stride
        { [3, 5, 7, 9], [315, 63, 9, 1], [315, 63, 9, 1], 1 },
        { [2, 16, 20, 20], [48 * 400, 400, 20, 1], [16 * 400, 400, 20, 1], 2 },
        // size-1 dimensions between others, and a single value
        { [1, 4, 1, 6], [99, 6, 77, 1], [24, 6, 24, 1], 1 },
        { [1, 1, 1], [5, 3, 1], [1, 1, 1], 0 },
    };

    [Theory]
    [MemberData(nameof(Copies))]
    public void Collapsed_walk_reaches_the_same_offsets_over_fewer_dimensions(int[] sizes, int[] aStrides, int[] bStrides, int dimensionsLeft)
    {
        var (s, a, b) = (Dims6.From(sizes, 1), Dims6.From(aStrides, 0), Dims6.From(bStrides, 0));
        var collapsed = Dims6.Collapse(s, a, b);
        int count = sizes.Aggregate(1, (p, d) => p * d);
        for (int i = 0; i < count; i++)
        {
            var at = Dims6.Offsets(i, collapsed.Sizes, collapsed.A, collapsed.B);
            if (at.A != Dims6.Offset(i, s, a) || at.B != Dims6.Offset(i, s, b))
                Assert.Fail($"index {i}: ({at.A}, {at.B}), not ({Dims6.Offset(i, s, a)}, {Dims6.Offset(i, s, b)})");
        }
        int[] left = [collapsed.Sizes.D0, collapsed.Sizes.D1, collapsed.Sizes.D2, collapsed.Sizes.D3, collapsed.Sizes.D4, collapsed.Sizes.D5];
        Assert.Equal(dimensionsLeft, left.Count(d => d != 1));
    }

    [Fact]
    public void Random_permutations_and_slices_walk_alike()
    {
        var random = new Random(7);
        for (int trial = 0; trial < 200; trial++)
        {
            int rank = random.Next(1, 7);
            var sizes = Enumerable.Range(0, rank).Select(_ => random.Next(1, 5)).ToArray();
            // a: a permuted contiguous layout; b: a slice of a larger contiguous tensor
            var perm = Enumerable.Range(0, rank).OrderBy(_ => random.Next()).ToArray();
            var aStrides = new int[rank];
            int stride = 1;
            foreach (int d in perm.Reverse()) { aStrides[d] = stride; stride *= sizes[d]; }
            var outer = sizes.Select(d => d + random.Next(0, 2)).ToArray();
            var bStrides = new int[rank];
            stride = 1;
            for (int d = rank - 1; d >= 0; d--) { bStrides[d] = stride; stride *= outer[d]; }
            var (s, a, b) = (Dims6.From(sizes, 1), Dims6.From(aStrides, 0), Dims6.From(bStrides, 0));
            var collapsed = Dims6.Collapse(s, a, b);
            for (int i = 0; i < sizes.Aggregate(1, (p, d) => p * d); i++)
            {
                var at = Dims6.Offsets(i, collapsed.Sizes, collapsed.A, collapsed.B);
                Assert.Equal((Dims6.Offset(i, s, a), Dims6.Offset(i, s, b)), (at.A, at.B));
            }
        }
    }
}
