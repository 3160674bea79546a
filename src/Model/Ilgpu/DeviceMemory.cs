using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace MoeDetect.Model.Ilgpu;

/// <summary>The device has too little memory for what was asked; the message says which batch size to lower.</summary>
public sealed class DeviceOutOfMemoryException(string message, Exception inner) : MoeDetectException(message, inner);

/// <summary>Allocation and host↔device copies, with out-of-memory turned into an error the user can act on.</summary>
internal static class DeviceMemory
{
    public static MemoryBuffer1D<float, Stride1D.Dense> Allocate(Accelerator accelerator, long length, string purpose)
    {
        try
        {
            return accelerator.Allocate1D<float>(length);
        }
        catch (Exception e) when (e is AcceleratorException or OutOfMemoryException)
        {
            throw new DeviceOutOfMemoryException(
                $"{accelerator.Name}: out of device memory allocating {length * 4 / (1024.0 * 1024):F0} MB for the {purpose} " +
                $"({accelerator.MemorySize / (1024 * 1024)} MB on the device); lower the batch size (--batch)", e);
        }
    }

    /// <summary>Whether the view's first element lies on a multiple of <paramref name="bytes"/> (what 16-byte vector
    /// loads and stores need).</summary>
    public static bool IsAligned<T>(ArrayView<T> view, int bytes) where T : unmanaged =>
        view.LoadEffectiveAddressAsPtr() % bytes == 0;

    /// <summary>Copies <paramref name="source"/> to the start of <paramref name="target"/>. The host memory is pinned for
    /// the copy: ILGPU takes a raw address, and a managed array the GC moves mid-copy would be read (or, for
    /// <see cref="Download{T}"/>, written) at its old address.</summary>
    public static unsafe void Upload<T>(ArrayView<T> target, ReadOnlySpan<T> source) where T : unmanaged
    {
        if (source.Length == 0) return;
        fixed (T* pinned = source)
            target.SubView(0, source.Length).CopyFromCPU(ref Unsafe.AsRef<T>(pinned), source.Length);
    }

    public static unsafe void Download<T>(ArrayView<T> source, Span<T> target) where T : unmanaged
    {
        if (target.Length == 0) return;
        fixed (T* pinned = target)
            source.SubView(0, target.Length).CopyToCPU(ref Unsafe.AsRef<T>(pinned), target.Length);
    }
}

/// <summary>Graph constants uploaded once per engine and shared by the plans of every batch size.</summary>
internal sealed class ConstantCache(Accelerator accelerator) : IDisposable
{
    private readonly Dictionary<string, DeviceTensor> _uploaded = new();
    private readonly List<MemoryBuffer> _buffers = new();

    public DeviceTensor Upload(string name, HostTensor host) =>
        _uploaded.TryGetValue(name, out var t) ? t : Upload(name, host.ToFloats(), host.Shape, host.IsInteger);

    /// <summary>Words uploaded as they are (bit patterns a kernel reads as something else: FP16 pairs), in their own buffer
    /// (so 256-byte aligned), viewed as a vector.</summary>
    public DeviceTensor UploadWords(string name, float[] words) =>
        _uploaded.TryGetValue(name, out var t) ? t : Upload(name, words, [words.Length], false);

    private DeviceTensor Upload(string name, float[] values, int[] shape, bool isInteger)
    {
        var buffer = DeviceMemory.Allocate(accelerator, Math.Max(1, values.Length), $"constant '{name}'");
        _buffers.Add(buffer);
        DeviceMemory.Upload(buffer.View, values);
        var storage = new Storage(values.Length, -1) { Pinned = true, View = buffer.View };
        return _uploaded[name] = new DeviceTensor(shape, storage, isInteger);
    }

    public void Dispose()
    {
        foreach (var b in _buffers) b.Dispose();
    }
}

/// <summary>Whether a tensor may take memory another one had: only where every step touching the later one waits (directly
/// or through others) for every step touching the earlier one, through the values they pass alone
/// (<see cref="StepDependencies.OfData"/>). Reuse then adds no wait between branches that could run side by side.</summary>
internal sealed class SlotReuse
{
    private readonly StepDependencies _data;
    private readonly Dictionary<Storage, List<int>> _touching = new();

    public SlotReuse(IReadOnlyList<StepMemory> steps)
    {
        _data = StepDependencies.OfData(steps);
        for (int step = 0; step < steps.Count; step++)
        {
            foreach (var storage in steps[step].Touched.Select(s => s.Outermost.Storage).Distinct())
            {
                if (!_touching.TryGetValue(storage, out var list)) _touching[storage] = list = new List<int>();
                list.Add(step);
            }
        }
    }

    public bool MayFollow(Storage earlier, Storage later)
    {
        var before = _touching.GetValueOrDefault(earlier) ?? [];
        return (_touching.GetValueOrDefault(later) ?? []).All(b => before.All(a => _data.Reaches[b][a]));
    }
}

/// <summary>Reuses memory between tensors whose lifetimes do not overlap: walking the steps in order, each new tensor
/// takes the smallest free slot that fits (or the largest free one, which then grows, or a new slot) among those whose
/// last tensor it may follow (<see cref="SlotReuse"/>), and gives it back after the last step that reads it. Slots are
/// allocated once, at their largest size. Where those slots do not fit in the device's memory, any free slot may be
/// taken (the plan before branches: less memory, more waits), so branches never make a batch run out of memory that
/// fitted before.</summary>
internal static class MemoryPlan
{
    public static long Assign(IReadOnlyList<Storage> storages, Accelerator accelerator, List<MemoryBuffer> owned, SlotReuse reuse)
    {
        var placed = storages.Where(s => s.Parent is not null).ToList();
        var own = storages.Where(s => s.Parent is null && !s.Pinned).ToList();
        long total;
        try
        {
            total = Allocate(Slots(own, reuse.MayFollow), accelerator, owned);
        }
        catch (DeviceOutOfMemoryException)
        {
            total = Allocate(Slots(own, static (_, _) => true), accelerator, owned);
        }
        PlaceViews(placed);
        return total;
    }

    /// <summary>The slots, each with its size and the storages that take it in turn.</summary>
    internal static List<(long Size, List<Storage> Users)> Slots(IReadOnlyList<Storage> storages, Func<Storage, Storage, bool> mayFollow)
    {
        var slots = new List<(long Size, List<Storage> Users)>();
        var free = new List<int>();
        var slotOf = new Dictionary<Storage, int>();
        var byFirst = storages.ToLookup(s => s.FirstStep);
        var byLast = storages.ToLookup(s => s.LastStep);
        int lastStep = storages.Select(s => s.FirstStep).DefaultIfEmpty(-1).Max();
        for (int step = 0; step <= lastStep; step++)
        {
            foreach (var s in byFirst[step])
            {
                var usable = free.Where(i => mayFollow(slots[i].Users[^1], s)).ToList();
                int pick = usable.Where(i => slots[i].Size >= s.Length).OrderBy(i => slots[i].Size).DefaultIfEmpty(-1).First();
                if (pick < 0) pick = usable.OrderByDescending(i => slots[i].Size).DefaultIfEmpty(-1).First();
                if (pick < 0) { slots.Add((0, new List<Storage>())); pick = slots.Count - 1; }
                else free.Remove(pick);
                slots[pick] = (Math.Max(slots[pick].Size, s.Length), slots[pick].Users);
                slots[pick].Users.Add(s);
                slotOf[s] = pick;
            }
            foreach (var s in byLast[step]) free.Add(slotOf[s]);
        }
        return slots;
    }

    /// <summary>A buffer per slot, all or none: what was allocated before a refusal is freed again.</summary>
    private static long Allocate(List<(long Size, List<Storage> Users)> slots, Accelerator accelerator, List<MemoryBuffer> owned)
    {
        var buffers = new List<MemoryBuffer>();
        try
        {
            foreach (var (size, users) in slots)
            {
                var buffer = DeviceMemory.Allocate(accelerator, size, "intermediate tensors");
                buffers.Add(buffer);
                foreach (var s in users) s.View = buffer.View;
            }
        }
        catch
        {
            foreach (var b in buffers) b.Dispose();
            throw;
        }
        owned.AddRange(buffers);
        return slots.Sum(s => s.Size);
    }

    /// <summary>Storages placed inside others (Concat inputs, channel ranges, ranges of those) view their parent's
    /// memory, parents first; again whenever a parent's memory moves (an input read where another plan's output lies).</summary>
    public static void PlaceViews(IEnumerable<Storage> placed)
    {
        foreach (var s in placed.OrderBy(Depth)) s.View = s.Parent!.View.SubView(s.Offset);
    }

    private static int Depth(Storage s) => s.Parent is null ? 0 : 1 + Depth(s.Parent);
}
