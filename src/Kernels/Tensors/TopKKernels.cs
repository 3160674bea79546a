using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;

namespace MoeDetect.Kernels.Tensors;

/// <summary>Rows of a top-k over the middle axis of x viewed as [outer, length, inner] (one row per (outer, inner)),
/// and the device scratch layout every TopK kernel shares.</summary>
public struct TopKShape
{
    public int Rows, Length, Inner, K;
    /// <summary>1: the k largest; 0: the k smallest.</summary>
    public int Largest;
    /// <summary>Chunks of <see cref="TopKKernels.ChunkLength"/> elements per row (the unit of ordered compaction).</summary>
    public int Chunks;

    public readonly int Element(int row, int j) => RowStart(row) + j * Inner;
    /// <summary>Where the row's first element lies; its elements follow <see cref="Inner"/> apart (loops add that rather
    /// than divide by <see cref="Inner"/> for every element).</summary>
    public readonly int RowStart(int row) => row / Inner * Length * Inner + row % Inner;
    public readonly int Output(int row, int j) => (row / Inner * K + j) * Inner + row % Inner;

    // Int scratch per row: 4 radix histograms of 256 bins, the state (key prefix, how many equal to it to take),
    // per-chunk counts and offsets of (greater, equal), and the k selected indices; then the filter's (TopKFilter):
    // its histogram, its state (bin, 1 where it found the top k, candidates so far), the candidates' keys and indices.
    public readonly int HistogramBase(int row, int pass) => row * ScratchPerRow + pass * 256;
    public readonly int StateBase(int row) => row * ScratchPerRow + 1024;
    public readonly int ChunkBase(int row) => row * ScratchPerRow + 1026;
    public readonly int SelectedBase(int row) => row * ScratchPerRow + 1026 + 4 * Chunks;
    public readonly int FilterHistogramBase(int row) => SelectedBase(row) + K;
    public readonly int FilterBin(int row) => FilterHistogramBase(row) + TopKFilter.Bins;
    /// <summary>1 where the filter found the row's top k (<see cref="TopKFilter"/>): the radix kernels then leave it.</summary>
    public readonly int FilterTaken(int row) => FilterBin(row) + 1;
    public readonly int CandidateCount(int row) => FilterBin(row) + 2;
    public readonly int CandidateKeysBase(int row) => FilterBin(row) + 3;
    public readonly int CandidateIndicesBase(int row) => CandidateKeysBase(row) + TopKFilter.MaxCandidates;
    public readonly int ScratchPerRow => 1026 + 4 * Chunks + K + TopKFilter.Bins + 3 + 2 * TopKFilter.MaxCandidates;

    /// <summary>Whether the filter found the row's top k: the radix kernels then leave it.</summary>
    public readonly bool Filtered(ArrayView<int> scratch, int row) => scratch[FilterTaken(row)] != 0;
}

/// <summary>Top-k on the device with no host synchronisation (ONNX TopK, sorted, ties to the lower index as ONNX
/// Runtime orders them). Floats map to order-preserving 32-bit keys; four 8-bit radix passes (histogram, then one
/// thread per row picks the digit) find the k-th key T and how many elements equal to T to keep. An ordered
/// compaction (per-chunk counts, a per-row scan, a group scan within each chunk) keeps every key above T and the
/// first such ties by index; one group per row then bitonic-sorts those k in shared memory.
/// Launch order: <see cref="Clear"/>, the filter (<see cref="TopKFilter"/>), then for the rows it left 4 ×
/// (<see cref="Histogram"/>, <see cref="PickDigit"/>), <see cref="CountChunks"/>, <see cref="ScanChunks"/>,
/// <see cref="Compact"/>, <see cref="Sort"/>: each returns at once for a row the filter finished. Grouped kernels work
/// with any group size up to <see cref="MaxGroupSize"/> (the CPU accelerator's groups are tiny).</summary>
public static class TopKKernels
{
    public const int MaxGroupSize = 256;
    public const int ChunkLength = 4096;
    /// <summary>Largest k one group sorts in shared memory.</summary>
    public const int MaxK = 2048;

    /// <summary>Order-preserving key: a larger key is a larger float (or a smaller one when !largest). −0 counts as +0,
    /// as float comparison does.</summary>
    public static uint Key(float v, int largest)
    {
        uint bits = (uint)Interop.FloatAsInt(v == 0 ? 0f : v);
        uint key = (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
        return largest != 0 ? key : ~key;
    }

    /// <summary>Zeroes histograms and sets each row's state: empty prefix, k still to take. One thread per scratch int.</summary>
    public static void Clear(Index1D i, ArrayView<int> scratch, TopKShape s) =>
        scratch[i] = i % s.ScratchPerRow == 1025 ? s.K : 0;

    /// <summary>Grid (chunks, rows): counts the 8-bit digit at <paramref name="pass"/> of every key whose higher digits
    /// match the row's prefix, in shared memory first, then one global atomic per bin. Each thread adds a run of equal
    /// digits with one atomic: in a CenterNet heatmap after the peak test nearly every value is 0, and one shared atomic
    /// per value would have every thread of the group queue on that one bin.</summary>
    public static void Histogram(ArrayView<float> x, ArrayView<int> scratch, TopKShape s, int pass)
    {
        var bins = SharedMemory.Allocate<int>(256);
        int row = Grid.IdxY, start = Grid.IdxX * ChunkLength, threads = Group.DimX;
        if (s.Filtered(scratch, row)) return;
        for (int b = Group.IdxX; b < 256; b += threads) bins[b] = 0;
        Group.Barrier();
        uint prefix = (uint)scratch[s.StateBase(row)];
        int shift = 24 - 8 * pass;
        uint highMask = pass == 0 ? 0u : ~0u << (shift + 8);
        int end = XMath.Min(start + ChunkLength, s.Length), rowStart = s.RowStart(row);
        int runBin = 0, run = 0;
        for (int j = start + Group.IdxX; j < end; j += threads)
        {
            uint key = Key(x[rowStart + j * s.Inner], s.Largest);
            if ((key & highMask) == prefix) CountInRun(bins, (int)((key >> shift) & 255), ref runBin, ref run);
        }
        if (run > 0) Atomic.Add(ref bins[runBin], run);
        Group.Barrier();
        for (int b = Group.IdxX; b < 256; b += threads)
            if (bins[b] != 0) Atomic.Add(ref scratch[s.HistogramBase(row, pass) + b], bins[b]);
    }

    /// <summary>One thread per row: the highest digit whose bin reaches the number still to take joins the prefix;
    /// the counts of higher digits are taken in full.</summary>
    public static void PickDigit(Index1D row, ArrayView<int> scratch, TopKShape s, int pass)
    {
        if (s.Filtered(scratch, row)) return;
        int state = s.StateBase(row), histogram = s.HistogramBase(row, pass);
        int remaining = scratch[state + 1];
        int digit = 255;
        for (; digit > 0; digit--)
        {
            int count = scratch[histogram + digit];
            if (count >= remaining) break;
            remaining -= count;
        }
        scratch[state] = (int)((uint)scratch[state] | (uint)digit << (24 - 8 * pass));
        scratch[state + 1] = remaining;
    }

    /// <summary>Grid (chunks, rows): per chunk, how many keys are above the threshold and how many equal it.</summary>
    public static void CountChunks(ArrayView<float> x, ArrayView<int> scratch, TopKShape s)
    {
        var counts = SharedMemory.Allocate<int>(2);
        int row = Grid.IdxY, chunk = Grid.IdxX, start = chunk * ChunkLength, threads = Group.DimX;
        if (s.Filtered(scratch, row)) return;
        if (Group.IdxX == 0) { counts[0] = 0; counts[1] = 0; }
        Group.Barrier();
        uint threshold = (uint)scratch[s.StateBase(row)];
        int end = XMath.Min(start + ChunkLength, s.Length), greater = 0, equal = 0, rowStart = s.RowStart(row);
        for (int j = start + Group.IdxX; j < end; j += threads)
        {
            uint key = Key(x[rowStart + j * s.Inner], s.Largest);
            if (key > threshold) greater++;
            else if (key == threshold) equal++;
        }
        if (greater != 0) Atomic.Add(ref counts[0], greater);
        if (equal != 0) Atomic.Add(ref counts[1], equal);
        Group.Barrier();
        if (Group.IdxX == 0)
        {
            scratch[s.ChunkBase(row) + 2 * chunk] = counts[0];
            scratch[s.ChunkBase(row) + 2 * chunk + 1] = counts[1];
        }
    }

    /// <summary>One thread per row: exclusive scan of the chunk counts into output offsets. Keys above the threshold fill
    /// the first k − ties places, ties the rest.</summary>
    public static void ScanChunks(Index1D row, ArrayView<int> scratch, TopKShape s)
    {
        if (s.Filtered(scratch, row)) return;
        int counts = s.ChunkBase(row), offsets = counts + 2 * s.Chunks;
        int greater = 0, equal = s.K - scratch[s.StateBase(row) + 1];
        for (int c = 0; c < s.Chunks; c++)
        {
            scratch[offsets + 2 * c] = greater;
            scratch[offsets + 2 * c + 1] = equal;
            greater += scratch[counts + 2 * c];
            equal += scratch[counts + 2 * c + 1];
        }
    }

    /// <summary>Grid (chunks, rows): writes the indices of kept elements in index order. Each thread takes a contiguous
    /// run of the chunk; a shared-memory scan of the runs' counts gives every thread its output offsets.</summary>
    public static void Compact(ArrayView<float> x, ArrayView<int> scratch, TopKShape s)
    {
        var greaterRuns = SharedMemory.Allocate<int>(MaxGroupSize);
        var equalRuns = SharedMemory.Allocate<int>(MaxGroupSize);
        int row = Grid.IdxY, chunk = Grid.IdxX, t = Group.IdxX, threads = Group.DimX;
        if (s.Filtered(scratch, row)) return;
        uint threshold = (uint)scratch[s.StateBase(row)];
        int run = (ChunkLength + threads - 1) / threads, rowStart = s.RowStart(row);
        int first = chunk * ChunkLength + t * run, end = XMath.Min(XMath.Min(first + run, (chunk + 1) * ChunkLength), s.Length);
        int greater = 0, equal = 0;
        for (int j = first; j < end; j++)
        {
            uint key = Key(x[rowStart + j * s.Inner], s.Largest);
            if (key > threshold) greater++;
            else if (key == threshold) equal++;
        }
        greaterRuns[t] = greater;
        equalRuns[t] = equal;
        InclusiveScan(greaterRuns, t, threads);
        InclusiveScan(equalRuns, t, threads);
        int offsets = s.ChunkBase(row) + 2 * s.Chunks + 2 * chunk;
        int nextGreater = scratch[offsets] + greaterRuns[t] - greater;
        int nextEqual = scratch[offsets + 1] + equalRuns[t] - equal;
        int selected = s.SelectedBase(row);
        for (int j = first; j < end; j++)
        {
            uint key = Key(x[rowStart + j * s.Inner], s.Largest);
            if (key > threshold) scratch[selected + nextGreater++] = j;
            else if (key == threshold && nextEqual < s.K) scratch[selected + nextEqual++] = j;
        }
    }

    /// <summary>One group per row (grid (1, rows)): bitonic sort of the k kept indices by (key descending, index
    /// ascending) in shared memory, then values and indices (exact floats) out.</summary>
    public static void Sort(ArrayView<float> x, ArrayView<int> scratch, ArrayView<float> values, ArrayView<float> indices, TopKShape s)
    {
        var keys = SharedMemory.Allocate<uint>(MaxK);
        var positions = SharedMemory.Allocate<int>(MaxK);
        int row = Grid.IdxY, t = Group.IdxX, threads = Group.DimX, selected = s.SelectedBase(row);
        if (s.Filtered(scratch, row)) return;
        int n = 1;
        while (n < s.K) n <<= 1;
        for (int i = t; i < n; i += threads)
        {
            // Padding sorts last: the smallest key with the largest index.
            int position = i < s.K ? scratch[selected + i] : int.MaxValue;
            keys[i] = i < s.K ? Key(x[s.Element(row, position)], s.Largest) : 0u;
            positions[i] = position;
        }
        BitonicSortAndWrite(x, keys, positions, n, values, indices, s, row);
    }

    /// <summary>The group sorts n (a power of two) shared (key, position) pairs by key descending, position ascending,
    /// then writes the first k as the row's values (exact floats read at their positions) and indices.</summary>
    internal static void BitonicSortAndWrite(ArrayView<float> x, ArrayView<uint> keys, ArrayView<int> positions, int n,
        ArrayView<float> values, ArrayView<float> indices, TopKShape s, int row)
    {
        int t = Group.IdxX, threads = Group.DimX;
        Group.Barrier();
        for (int size = 2; size <= n; size <<= 1)
            for (int stride = size >> 1; stride > 0; stride >>= 1)
            {
                for (int i = t; i < n; i += threads)
                {
                    int partner = i ^ stride;
                    if (partner <= i) continue;
                    // Blocks whose size bit is clear sort best-first, the others worst-first, as bitonic merging needs.
                    bool bestFirst = (i & size) == 0;
                    bool partnerBetter = keys[partner] > keys[i] || (keys[partner] == keys[i] && positions[partner] < positions[i]);
                    if (partnerBetter == bestFirst)
                    {
                        uint k = keys[i]; keys[i] = keys[partner]; keys[partner] = k;
                        int p = positions[i]; positions[i] = positions[partner]; positions[partner] = p;
                    }
                }
                Group.Barrier();
            }
        for (int i = t; i < s.K; i += threads)
        {
            values[s.Output(row, i)] = x[s.Element(row, positions[i])];
            indices[s.Output(row, i)] = positions[i];
        }
    }

    /// <summary>Counts <paramref name="bin"/> into the thread's run of equal bins; a different bin first adds the run to
    /// the shared <paramref name="bins"/> with one atomic (the caller adds the last run).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void CountInRun(ArrayView<int> bins, int bin, ref int runBin, ref int run)
    {
        if (run > 0 && bin == runBin)
        {
            run++;
            return;
        }
        if (run > 0) Atomic.Add(ref bins[runBin], run);
        runBin = bin;
        run = 1;
    }

    /// <summary>Hillis–Steele inclusive scan of <paramref name="count"/> shared ints by the group.</summary>
    internal static void InclusiveScan(ArrayView<int> values, int t, int count)
    {
        for (int offset = 1; offset < count; offset <<= 1)
        {
            Group.Barrier();
            int add = t >= offset ? values[t - offset] : 0;
            Group.Barrier();
            values[t] += add;
        }
        Group.Barrier();
    }
}
