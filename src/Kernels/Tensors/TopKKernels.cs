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
    /// <summary>1: ONNX's sorted = 0, any order will do. Rows selected in one group (<see cref="TopKKernels.SelectInGroup"/>)
    /// then skip the sort and come in the compaction's order: keys above the k-th key by index, then the ties kept, by
    /// index. The chunked kernels sort either way.</summary>
    public int Unsorted;

    public readonly int Element(int row, int j) => RowStart(row) + j * Inner;
    /// <summary>Where the row's first element lies; its elements follow <see cref="Inner"/> apart (loops add that rather
    /// than divide by <see cref="Inner"/> for every element).</summary>
    public readonly int RowStart(int row) => row / Inner * Length * Inner + row % Inner;
    public readonly int Output(int row, int j) => (row / Inner * K + j) * Inner + row % Inner;

    // Int scratch per row: 4 radix histograms of 256 bins, the radix states before each pass and after the last (key
    // prefix, how many equal to it to take), per-chunk counts of (greater, equal), and the k selected indices; then the
    // filter's (TopKFilter): its histogram, its state (bin, 1 where it took the row, candidates so far), the candidates'
    // keys and indices.
    public readonly int HistogramBase(int row, int pass) => row * ScratchPerRow + pass * 256;
    /// <summary>The radix state before <paramref name="pass"/> (4: after the last pass: the k-th key and how many keys
    /// equal to it to keep).</summary>
    public readonly int StateBase(int row, int pass) => row * ScratchPerRow + 1024 + 2 * pass;
    public readonly int ChunkBase(int row) => row * ScratchPerRow + 1034;
    public readonly int SelectedBase(int row) => ChunkBase(row) + 2 * Chunks;
    public readonly int FilterHistogramBase(int row) => SelectedBase(row) + K;
    public readonly int FilterBin(int row) => FilterHistogramBase(row) + TopKFilter.Bins;
    /// <summary>1 where the filter found the row's top k (<see cref="TopKFilter"/>): the radix kernels then leave it.</summary>
    public readonly int FilterTaken(int row) => FilterBin(row) + 1;
    public readonly int CandidateCount(int row) => FilterBin(row) + 2;
    public readonly int CandidateKeysBase(int row) => FilterBin(row) + 3;
    public readonly int CandidateIndicesBase(int row) => CandidateKeysBase(row) + TopKFilter.MaxCandidates;
    public readonly int ScratchPerRow => 1034 + 2 * Chunks + K + TopKFilter.Bins + 3 + 2 * TopKFilter.MaxCandidates;

    /// <summary>Whether the filter found the row's top k: the radix kernels then leave it.</summary>
    public readonly bool Filtered(ArrayView<int> scratch, int row) => scratch[FilterTaken(row)] != 0;
}

/// <summary>Top-k on the device with no host synchronisation (ONNX TopK, sorted, ties to the lower index as ONNX
/// Runtime orders them). Floats map to order-preserving 32-bit keys; four 8-bit radix passes find the k-th key T and how
/// many elements equal to T to keep: each pass counts a histogram, and the next launch's groups each pick the digit from
/// it (<see cref="StateBefore"/>) rather than a launch of its own doing so. An ordered compaction (per-chunk counts, then
/// a group per chunk that sums the counts before it and scans its threads' runs) keeps every key above T and the first
/// such ties by index; one group per row then bitonic-sorts those k in shared memory.
/// Launch order: <see cref="Clear"/>, the filter (<see cref="TopKFilter.Histogram"/>, <see cref="TopKFilter.PickBin"/>,
/// <see cref="TopKFilter.Append"/>), then 4 × <see cref="Histogram"/>, <see cref="CountChunks"/> and
/// <see cref="Compact"/>, which return at once for a row the filter took, and <see cref="Sort"/> for every row: 11
/// launches. Grouped kernels work with any group size up to <see cref="MaxGroupSize"/> (the CPU accelerator's groups are
/// tiny).</summary>
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
        scratch[i] = i % s.ScratchPerRow == s.StateBase(0, 0) + 1 ? s.K : 0;

    /// <summary>Grid (chunks, rows): counts the 8-bit digit at <paramref name="pass"/> of every key whose higher digits
    /// match the row's prefix (<see cref="StateBefore"/>), in shared memory first, then one global atomic per bin. Each
    /// thread adds a run of equal digits with one atomic: in a CenterNet heatmap after the peak test nearly every value is
    /// 0, and one shared atomic per value would have every thread of the group queue on that one bin.</summary>
    public static void Histogram(ArrayView<float> x, ArrayView<int> scratch, TopKShape s, int pass)
    {
        var bins = SharedMemory.Allocate<int>(256);
        var sums = SharedMemory.Allocate<int>(MaxGroupSize);
        var found = SharedMemory.Allocate<int>(2);
        int row = Grid.IdxY, start = Grid.IdxX * ChunkLength, threads = Group.DimX;
        if (s.Filtered(scratch, row)) return;
        for (int b = Group.IdxX; b < 256; b += threads) bins[b] = 0;
        uint prefix = StateBefore(scratch, s, row, pass, sums, found).Prefix;
        CountDigits(x, s, s.RowStart(row), start, XMath.Min(start + ChunkLength, s.Length), prefix, pass, bins);
        Group.Barrier();
        for (int b = Group.IdxX; b < 256; b += threads)
            if (bins[b] != 0) Atomic.Add(ref scratch[s.HistogramBase(row, pass) + b], bins[b]);
    }

    /// <summary>Counts into the shared <paramref name="bins"/> the 8-bit digit at <paramref name="pass"/> of every key among
    /// elements <paramref name="first"/> + thread, + threads, … before <paramref name="end"/> whose higher digits match
    /// <paramref name="prefix"/>, a run of equal digits a thread with one atomic (<see cref="CountInRun"/>). The caller
    /// clears the bins before and waits for the group after.</summary>
    private static void CountDigits(ArrayView<float> x, TopKShape s, int rowStart, int first, int end, uint prefix, int pass, ArrayView<int> bins)
    {
        int shift = 24 - 8 * pass;
        uint highMask = pass == 0 ? 0u : ~0u << (shift + 8);
        int runBin = 0, run = 0;
        for (int j = first + Group.IdxX; j < end; j += Group.DimX)
        {
            uint key = Key(x[rowStart + j * s.Inner], s.Largest);
            if ((key & highMask) == prefix) CountInRun(bins, (int)((key >> shift) & 255), ref runBin, ref run);
        }
        if (run > 0) Atomic.Add(ref bins[runBin], run);
    }

    /// <summary>The row's radix state before <paramref name="pass"/> (1 to 4; 0: the cleared state): the state before the
    /// pass ahead of it, its prefix extended by the highest digit of that pass's histogram whose count reaches the number
    /// still to take, which drops by the counts of the digits above. Every group works it out from the same counts, so
    /// all agree; the first group of the row stores it for the launches after this one. Starts with a barrier (the
    /// caller's shared stores before it are then seen by the whole group).</summary>
    private static (uint Prefix, int Remaining) StateBefore(ArrayView<int> scratch, TopKShape s, int row, int pass, ArrayView<int> sums, ArrayView<int> found)
    {
        int earlier = s.StateBase(row, pass == 0 ? 0 : pass - 1);
        uint prefix = (uint)scratch[earlier];
        int remaining = scratch[earlier + 1];
        if (pass == 0)
        {
            Group.Barrier();
            return (prefix, remaining);
        }
        // The keys matching the prefix number at least those still to take, so the digit is always found.
        var (digit, above) = FindFromTop(scratch, s.HistogramBase(row, pass - 1), 256, remaining, sums, found);
        prefix |= (uint)digit << (32 - 8 * pass);
        remaining -= above;
        if (Grid.IdxX == 0 && Group.IdxX == 0)
        {
            scratch[s.StateBase(row, pass)] = (int)prefix;
            scratch[s.StateBase(row, pass) + 1] = remaining;
        }
        return (prefix, remaining);
    }

    /// <summary>The group finds the highest of <paramref name="bins"/> counts at scratch[histogram] whose sum with the
    /// counts above it reaches <paramref name="target"/>: each thread sums a run of bins from the top, a scan of those
    /// sums finds the run that holds it, and that run's thread walks it. Every thread gets the bin and the sum of the
    /// counts above it; (-1, 0) where all counts together stay below the target. Shared: <paramref name="sums"/>, an int
    /// per thread; <paramref name="found"/>, 2 ints. Starts with a barrier, as <see cref="InclusiveScan"/> does.</summary>
    internal static (int Bin, int Above) FindFromTop(ArrayView<int> scratch, int histogram, int bins, int target, ArrayView<int> sums, ArrayView<int> found)
    {
        int t = Group.IdxX, threads = Group.DimX;
        int perThread = (bins + threads - 1) / threads, top = bins - 1 - t * perThread, sum = 0;
        for (int b = top; b > top - perThread && b >= 0; b--) sum += scratch[histogram + b];
        sums[t] = sum;
        if (t == 0)
        {
            found[0] = -1;
            found[1] = 0;
        }
        InclusiveScan(sums, t, threads);
        int above = sums[t] - sum;
        if (above < target && sums[t] >= target)
        {
            int bin = top;
            while (above + scratch[histogram + bin] < target) above += scratch[histogram + bin--];
            found[0] = bin;
            found[1] = above;
        }
        Group.Barrier();
        return (found[0], found[1]);
    }

    /// <summary>Grid (chunks, rows): per chunk, how many keys are above the threshold (the state after the last pass,
    /// <see cref="StateBefore"/>) and how many equal it.</summary>
    public static void CountChunks(ArrayView<float> x, ArrayView<int> scratch, TopKShape s)
    {
        var counts = SharedMemory.Allocate<int>(2);
        var sums = SharedMemory.Allocate<int>(MaxGroupSize);
        var found = SharedMemory.Allocate<int>(2);
        int row = Grid.IdxY, chunk = Grid.IdxX, start = chunk * ChunkLength, threads = Group.DimX;
        if (s.Filtered(scratch, row)) return;
        if (Group.IdxX == 0) { counts[0] = 0; counts[1] = 0; }
        uint threshold = StateBefore(scratch, s, row, 4, sums, found).Prefix;
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

    /// <summary>Grid (chunks, rows): writes the indices of kept elements in index order. Keys above the threshold fill
    /// the first k − ties places, ties the rest: the group sums the chunks' counts before its own for its offsets. Each
    /// thread takes a contiguous run of the chunk; a shared-memory scan of the runs' counts gives every thread its own.</summary>
    public static void Compact(ArrayView<float> x, ArrayView<int> scratch, TopKShape s)
    {
        var greaterRuns = SharedMemory.Allocate<int>(MaxGroupSize);
        var equalRuns = SharedMemory.Allocate<int>(MaxGroupSize);
        int row = Grid.IdxY, chunk = Grid.IdxX, t = Group.IdxX, threads = Group.DimX;
        if (s.Filtered(scratch, row)) return;
        uint threshold = (uint)scratch[s.StateBase(row, 4)];
        int ties = s.K - scratch[s.StateBase(row, 4) + 1];
        int greaterBefore = SumBefore(scratch, s.ChunkBase(row), chunk, greaterRuns, t, threads);
        int equalBefore = SumBefore(scratch, s.ChunkBase(row) + 1, chunk, equalRuns, t, threads);
        int run = (ChunkLength + threads - 1) / threads;
        int first = chunk * ChunkLength + t * run, end = XMath.Min(XMath.Min(first + run, (chunk + 1) * ChunkLength), s.Length);
        CompactRuns(x, s, s.RowStart(row), first, end, threshold, greaterBefore, ties + equalBefore, scratch, s.SelectedBase(row), greaterRuns, equalRuns);
    }

    /// <summary>Each thread's run [first, end) of the row: indices of keys above <paramref name="threshold"/> go to
    /// target[at + …] from <paramref name="greaterFrom"/> on, ties from <paramref name="equalFrom"/> on while fewer than
    /// k are kept, in index order across the group (a scan of the runs' counts through the two shared arrays, an int
    /// per thread).</summary>
    private static void CompactRuns(ArrayView<float> x, TopKShape s, int rowStart, int first, int end, uint threshold, int greaterFrom, int equalFrom,
        ArrayView<int> target, int at, ArrayView<int> greaterRuns, ArrayView<int> equalRuns)
    {
        int t = Group.IdxX, threads = Group.DimX, greater = 0, equal = 0;
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
        int nextGreater = greaterFrom + greaterRuns[t] - greater, nextEqual = equalFrom + equalRuns[t] - equal;
        for (int j = first; j < end; j++)
        {
            uint key = Key(x[rowStart + j * s.Inner], s.Largest);
            if (key > threshold) target[at + nextGreater++] = j;
            else if (key == threshold && nextEqual < s.K) target[at + nextEqual++] = j;
        }
    }

    /// <summary>Rows of at most this many elements take <see cref="SelectInGroup"/>: one launch where the chunked kernels
    /// take eleven, each reading a row of this length from cache (YOLOv8n's 8,400 anchors at 640, k = 1,000).</summary>
    public const int GroupRowLength = 16384;

    /// <summary>Threads of <see cref="SelectInGroup"/>'s groups on a GPU (fewer where the accelerator's groups are smaller).</summary>
    public const int RowGroupSize = 1024;

    /// <summary>One group per row (grid (1, rows)) of at most <see cref="GroupRowLength"/> elements: the whole top-k of
    /// the other kernels in one launch, state in shared memory instead of the scratch. Four radix passes over the row
    /// find the k-th key and how many keys equal to it to keep, the row is compacted in index order (keys above it, then
    /// the first such ties) and the kept k are sorted as <see cref="Sort"/> sorts them, unless
    /// <see cref="TopKShape.Unsorted"/>: YOLO's candidate choice takes 1,000 of 8,400 anchors unsorted, and the bitonic
    /// sort of 1,024 keys is 55 steps of the group, each ending in a barrier.</summary>
    public static void SelectInGroup(ArrayView<float> x, ArrayView<float> values, ArrayView<float> indices, TopKShape s)
    {
        var bins = SharedMemory.Allocate<int>(256);
        var sums = SharedMemory.Allocate<int>(RowGroupSize);
        var equalRuns = SharedMemory.Allocate<int>(RowGroupSize);
        var found = SharedMemory.Allocate<int>(2);
        var keys = SharedMemory.Allocate<uint>(MaxK);
        var positions = SharedMemory.Allocate<int>(MaxK);
        int row = Grid.IdxY, t = Group.IdxX, threads = Group.DimX, rowStart = s.RowStart(row);
        uint prefix = 0;
        int remaining = s.K;
        for (int pass = 0; pass < 4; pass++)
        {
            for (int b = t; b < 256; b += threads) bins[b] = 0;
            Group.Barrier();
            CountDigits(x, s, rowStart, 0, s.Length, prefix, pass, bins);
            Group.Barrier();
            // The keys matching the prefix number at least those still to take, so the digit is always found.
            var (digit, above) = FindFromTop(bins, 0, 256, remaining, sums, found);
            prefix |= (uint)digit << (24 - 8 * pass);
            remaining -= above;
        }
        // The row compacted in index order: keys above the k-th from 0, the first ties after them.
        int span = (s.Length + threads - 1) / threads, first = t * span;
        CompactRuns(x, s, rowStart, first, XMath.Min(first + span, s.Length), prefix, 0, s.K - remaining, positions, 0, sums, equalRuns);
        Group.Barrier();
        if (s.Unsorted != 0)
        {
            WriteKept(x, positions, values, indices, s, row);
            return;
        }
        int n = 1;
        while (n < s.K) n <<= 1;
        for (int i = t; i < n; i += threads)
        {
            // Padding sorts last: the smallest key with the largest index.
            if (i >= s.K) positions[i] = int.MaxValue;
            keys[i] = i >= s.K ? 0u : Key(x[rowStart + positions[i] * s.Inner], s.Largest);
        }
        BitonicSortAndWrite(x, keys, positions, n, values, indices, s, row);
    }

    /// <summary>One group per row (grid (1, rows)): bitonic sort in shared memory of the filter's candidates where it
    /// took the row (<see cref="TopKFilter.Append"/>), else of the k indices the compaction kept, then the first k values
    /// (exact floats) and indices out.</summary>
    public static void Sort(ArrayView<float> x, ArrayView<int> scratch, ArrayView<float> values, ArrayView<float> indices, TopKShape s)
    {
        var keys = SharedMemory.Allocate<uint>(MaxK);
        var positions = SharedMemory.Allocate<int>(MaxK);
        int row = Grid.IdxY, t = Group.IdxX, threads = Group.DimX;
        bool filtered = s.Filtered(scratch, row);
        int count = filtered ? scratch[s.CandidateCount(row)] : s.K;
        int n = 1;
        while (n < count) n <<= 1;
        int candidateKeys = s.CandidateKeysBase(row), candidateIndices = s.CandidateIndicesBase(row), selected = s.SelectedBase(row);
        for (int i = t; i < n; i += threads)
        {
            // Padding sorts last: the smallest key with the largest index.
            int position = i >= count ? int.MaxValue : filtered ? scratch[candidateIndices + i] : scratch[selected + i];
            positions[i] = position;
            keys[i] = i >= count ? 0u : filtered ? (uint)scratch[candidateKeys + i] : Key(x[s.Element(row, position)], s.Largest);
        }
        BitonicSortAndWrite(x, keys, positions, n, values, indices, s, row);
    }

    /// <summary>The group sorts n (a power of two) shared (key, position) pairs by key descending, position ascending,
    /// then writes the first k as the row's values (exact floats read at their positions) and indices.</summary>
    private static void BitonicSortAndWrite(ArrayView<float> x, ArrayView<uint> keys, ArrayView<int> positions, int n,
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
        WriteKept(x, positions, values, indices, s, row);
    }

    /// <summary>The row's first k <paramref name="positions"/> out as its values (exact floats read there) and indices.</summary>
    private static void WriteKept(ArrayView<float> x, ArrayView<int> positions, ArrayView<float> values, ArrayView<float> indices, TopKShape s, int row)
    {
        for (int i = Group.IdxX; i < s.K; i += Group.DimX)
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

    /// <summary>The group's sum of scratch[at + 2c] over the chunks c before <paramref name="chunk"/>, through the shared
    /// <paramref name="sums"/> (an int per thread, free again when this returns).</summary>
    private static int SumBefore(ArrayView<int> scratch, int at, int chunk, ArrayView<int> sums, int t, int threads)
    {
        int sum = 0;
        for (int c = t; c < chunk; c += threads) sum += scratch[at + 2 * c];
        sums[t] = sum;
        InclusiveScan(sums, t, threads);
        int total = sums[threads - 1];
        Group.Barrier();
        return total;
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
