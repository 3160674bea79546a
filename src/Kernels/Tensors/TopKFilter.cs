using ILGPU;
using ILGPU.Algorithms;

namespace MoeDetect.Kernels.Tensors;

/// <summary>The first try of <see cref="TopKKernels"/>, in two passes over the row where the radix select takes six: a
/// histogram of the keys' top <see cref="BinBits"/> bits finds the bin that holds the k-th largest key; every element
/// in that bin or above (at most <see cref="MaxCandidates"/>, else the radix kernels take the row) is appended, key and
/// index, to a candidate list; one group sorts the candidates by key, ties by index, and writes the first k. The top k
/// all lie in that bin or above, so this is exactly what the radix select gives. A CenterNet heatmap after the peak
/// test (1.3 M values, k = 100) has some hundreds of candidates.
/// Launch order after <see cref="TopKKernels.Clear"/>: <see cref="Histogram"/>, <see cref="PickBin"/>,
/// <see cref="Append"/>; the sort of the candidates is <see cref="TopKKernels.Sort"/>'s, after the radix kernels.</summary>
public static class TopKFilter
{
    public const int BinBits = 11;
    public const int Bins = 1 << BinBits;
    /// <summary>Most candidates one row may have (one group sorts them in shared memory).</summary>
    public const int MaxCandidates = TopKKernels.MaxK;

    private static int Bin(uint key) => (int)(key >> (32 - BinBits));

    /// <summary>Grid (chunks, rows): counts every key's bin, in shared memory first (a run of equal bins with one
    /// atomic, as <see cref="TopKKernels.Histogram"/> does), then one global atomic per bin used.</summary>
    public static void Histogram(ArrayView<float> x, ArrayView<int> scratch, TopKShape s)
    {
        var bins = SharedMemory.Allocate<int>(Bins);
        int row = Grid.IdxY, start = Grid.IdxX * TopKKernels.ChunkLength, threads = Group.DimX;
        for (int b = Group.IdxX; b < Bins; b += threads) bins[b] = 0;
        Group.Barrier();
        int end = XMath.Min(start + TopKKernels.ChunkLength, s.Length), rowStart = s.RowStart(row);
        int runBin = 0, run = 0;
        for (int j = start + Group.IdxX; j < end; j += threads)
            TopKKernels.CountInRun(bins, Bin(TopKKernels.Key(x[rowStart + j * s.Inner], s.Largest)), ref runBin, ref run);
        if (run > 0) Atomic.Add(ref bins[runBin], run);
        Group.Barrier();
        int histogram = s.FilterHistogramBase(row);
        for (int b = Group.IdxX; b < Bins; b += threads)
            if (bins[b] != 0) Atomic.Add(ref scratch[histogram + b], bins[b]);
    }

    /// <summary>One group per row (grid (1, rows)): the bin that holds the row's k-th key
    /// (<see cref="TopKKernels.FindFromTop"/>). The row is the filter's where that bin and those above hold at most
    /// <see cref="MaxCandidates"/> keys. One group searches, not every group of <see cref="Append"/>: at batch 32 those
    /// would read the 2,048 counts 10,000 times.</summary>
    public static void PickBin(ArrayView<int> scratch, TopKShape s)
    {
        var sums = SharedMemory.Allocate<int>(TopKKernels.MaxGroupSize);
        var found = SharedMemory.Allocate<int>(2);
        int row = Grid.IdxY, histogram = s.FilterHistogramBase(row);
        var (bin, above) = TopKKernels.FindFromTop(scratch, histogram, Bins, s.K, sums, found);
        if (Group.IdxX != 0) return;
        scratch[s.FilterBin(row)] = bin;
        scratch[s.FilterTaken(row)] = bin >= 0 && above + scratch[histogram + bin] <= MaxCandidates ? 1 : 0;
    }

    /// <summary>Grid (chunks, rows), for rows the filter takes: appends the key and index of every element in the picked
    /// bin or above to the row's candidates, a place for each from one shared count per group and one global atomic.</summary>
    public static void Append(ArrayView<float> x, ArrayView<int> scratch, TopKShape s)
    {
        var counts = SharedMemory.Allocate<int>(2);
        int row = Grid.IdxY, start = Grid.IdxX * TopKKernels.ChunkLength, threads = Group.DimX;
        if (!s.Filtered(scratch, row)) return;
        if (Group.IdxX == 0) counts[0] = 0;
        Group.Barrier();
        int lowest = scratch[s.FilterBin(row)];
        int end = XMath.Min(start + TopKKernels.ChunkLength, s.Length), rowStart = s.RowStart(row), mine = 0;
        for (int j = start + Group.IdxX; j < end; j += threads)
            if (Bin(TopKKernels.Key(x[rowStart + j * s.Inner], s.Largest)) >= lowest) mine++;
        int next = mine > 0 ? Atomic.Add(ref counts[0], mine) : 0;
        Group.Barrier();
        if (Group.IdxX == 0) counts[1] = counts[0] > 0 ? Atomic.Add(ref scratch[s.CandidateCount(row)], counts[0]) : 0;
        Group.Barrier();
        if (mine == 0) return;
        next += counts[1];
        int keys = s.CandidateKeysBase(row), indices = s.CandidateIndicesBase(row);
        for (int j = start + Group.IdxX; j < end; j += threads)
        {
            uint key = TopKKernels.Key(x[rowStart + j * s.Inner], s.Largest);
            if (Bin(key) < lowest) continue;
            scratch[keys + next] = (int)key;
            scratch[indices + next++] = j;
        }
    }
}
