using System.Collections;
using ILGPU;
using ILGPU.Runtime;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Device memory one plan step reads or writes: bytes [<see cref="Start"/>, <see cref="End"/>).</summary>
internal readonly record struct MemoryAccess(long Start, long End, bool Writes)
{
    /// <summary>Two accesses must keep their order when they overlap and either writes.</summary>
    public bool Conflicts(MemoryAccess other) => (Writes || other.Writes) && Start < other.End && other.Start < End;

    /// <summary>Where <paramref name="storage"/> lies: <paramref name="baseOf"/> its outermost storage (the one with memory
    /// of its own) plus its offset in that. One whose images are spread through its parent's
    /// (<see cref="Storage.Spread"/>) reaches to the outermost one's end.</summary>
    public static MemoryAccess Of(Storage storage, bool writes, Func<Storage, long> baseOf)
    {
        var (outermost, offset) = storage.Outermost;
        long start = baseOf(outermost) + offset * sizeof(float);
        long end = storage.Spread ? baseOf(outermost) + outermost.Length * sizeof(float) : start + storage.Length * sizeof(float);
        return new MemoryAccess(start, end, writes);
    }

    /// <summary>A storage's device address, once the memory plan has given it memory.</summary>
    public static long DeviceAddress(Storage storage) => storage.View.LoadEffectiveAddressAsPtr();
}

/// <summary>The storages a plan step reads and those it writes (every tensor its node made: outputs, copies, workspaces).</summary>
internal sealed record StepMemory(IReadOnlyList<Storage> Reads, IReadOnlyList<Storage> Writes)
{
    public IEnumerable<Storage> Touched => Reads.Concat(Writes);

    public MemoryAccess[] Accesses(Func<Storage, long> baseOf) =>
        [.. Reads.Select(s => MemoryAccess.Of(s, writes: false, baseOf)), .. Writes.Select(s => MemoryAccess.Of(s, writes: true, baseOf))];
}

/// <summary>Which earlier steps each step of a plan must wait for: those whose memory it reads after they write it, writes
/// after they read it, or writes as well. Steps that need not wait for each other may run side by side (branches of a
/// CUDA graph). <see cref="WaitsFor"/> lists are minimal: a step reached through another one it waits for is left out;
/// <see cref="Reaches"/>[k] holds every step k waits for, directly or not.</summary>
internal sealed class StepDependencies
{
    public int[][] WaitsFor { get; }
    public BitArray[] Reaches { get; }

    public StepDependencies(IReadOnlyList<MemoryAccess[]> steps)
    {
        WaitsFor = new int[steps.Count][];
        Reaches = new BitArray[steps.Count];
        for (int k = 0; k < steps.Count; k++)
        {
            var reach = new BitArray(steps.Count);
            var direct = new List<int>();
            // Latest first: an earlier conflicting step that a later one already waits for adds no wait of its own.
            for (int j = k - 1; j >= 0; j--)
            {
                if (reach[j] || !Conflict(steps[j], steps[k])) continue;
                direct.Add(j);
                reach.Or(Reaches[j]);
                reach[j] = true;
            }
            WaitsFor[k] = direct.ToArray();
            Reaches[k] = reach;
        }
    }

    /// <summary>The plan's data dependencies alone, before memory is planned: each outermost storage at an address of
    /// its own, so that only values passed from step to step order them.</summary>
    public static StepDependencies OfData(IReadOnlyList<StepMemory> steps)
    {
        var bases = new Dictionary<Storage, long>();
        long BaseOf(Storage s) => bases.TryGetValue(s, out long b) ? b : bases[s] = (bases.Count + 1L) << 40;
        return new StepDependencies(steps.Select(m => m.Accesses(BaseOf)).ToList());
    }

    /// <summary>Steps on the longest chain of waits: how many launches must run one after another however many run beside them.</summary>
    public int LongestChain()
    {
        var depth = new int[WaitsFor.Length];
        for (int k = 0; k < depth.Length; k++) depth[k] = 1 + WaitsFor[k].Select(j => depth[j]).DefaultIfEmpty(0).Max();
        return depth.DefaultIfEmpty(0).Max();
    }

    private static bool Conflict(MemoryAccess[] a, MemoryAccess[] b) => a.Any(x => b.Any(x.Conflicts));
}
