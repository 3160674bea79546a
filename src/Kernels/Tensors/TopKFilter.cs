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
/// <see cref="Append"/>, <see cref="Sort"/>.</summary>
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

    /// <summary>One group per row (grid (1, rows)): each thread sums a run of bins from the top, a scan of those sums
    /// finds the run holding the k-th key, and its thread walks it to the bin. The row is the filter's where that bin
    /// and those above hold at most <see cref="MaxCandidates"/> keys.</summary>
    public static void PickBin(ArrayView<int> scratch, TopKShape s)
    {
        var sums = SharedMemory.Allocate<int>(TopKKernels.MaxGroupSize);
        int row = Grid.IdxY, t = Group.IdxX, threads = Group.DimX;
        int perThread = (Bins + threads - 1) / threads, histogram = s.FilterHistogramBase(row);
        int top = Bins - 1 - t * perThread, sum = 0;
        for (int b = top; b > top - perThread && b >= 0; b--) sum += scratch[histogram + b];
        sums[t] = sum;
        TopKKernels.InclusiveScan(sums, t, threads);
        int above = sums[t] - sum;
        if (above >= s.K || sums[t] < s.K) return;
        int bin = top;
        while (above + scratch[histogram + bin] < s.K) above += scratch[histogram + bin--];
        scratch[s.FilterBin(row)] = bin;
        scratch[s.FilterTaken(row)] = above + scratch[histogram + bin] <= MaxCandidates ? 1 : 0;
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

    /// <summary>One group per row the filter takes (grid (1, rows)): bitonic sort of its candidates, the first k out.</summary>
    public static void Sort(ArrayView<float> x, ArrayView<int> scratch, ArrayView<float> values, ArrayView<float> indices, TopKShape s)
    {
        var keys = SharedMemory.Allocate<uint>(MaxCandidates);
        var positions = SharedMemory.Allocate<int>(MaxCandidates);
        int row = Grid.IdxY, t = Group.IdxX, threads = Group.DimX;
        if (!s.Filtered(scratch, row)) return;
        int count = scratch[s.CandidateCount(row)], candidateKeys = s.CandidateKeysBase(row), candidateIndices = s.CandidateIndicesBase(row);
        int n = 1;
        while (n < count) n <<= 1;
        for (int i = t; i < n; i += threads)
        {
            // Padding sorts last: the smallest key with the largest index.
            keys[i] = i < count ? (uint)scratch[candidateKeys + i] : 0u;
            positions[i] = i < count ? scratch[candidateIndices + i] : int.MaxValue;
        }
        TopKKernels.BitonicSortAndWrite(x, keys, positions, n, values, indices, s, row);
    }
}
