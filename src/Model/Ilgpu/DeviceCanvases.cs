using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using MoeDetect.Kernels.Preprocessing;
using MoeDetect.Model.Input;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Network input from letterboxed 8-bit BGR canvases: the host writes them into page-locked memory
/// (<see cref="Staging"/>; with two slots the next batch can be written while one runs), they cross the bus as bytes
/// (a quarter of the floats) and <see cref="CanvasKernel"/> normalises them into the input on the device, so no
/// per-pixel work is left on the CPU. Each slot uploads on a queue of its own into canvases of its own on the device,
/// so that one batch's upload runs while the batch before it is computed (<see cref="Upload"/>, then <see cref="Normalize"/>).</summary>
internal sealed class DeviceCanvases : IDisposable
{
    private readonly KernelLibrary _kernels;
    private readonly InputSpec _spec;
    private readonly List<Slot> _slots = [];

    /// <summary>A slot's page-locked staging, its canvases on the device, the queue the copy between them runs on,
    /// and the last upload: how many canvases, and stream markers around it for its device time.</summary>
    private sealed class Slot(PageLockedArray1D<byte> staging, MemoryBuffer1D<byte, Stride1D.Dense> canvases, AcceleratorStream uploads) : IDisposable
    {
        public PageLockedArray1D<byte> Staging => staging;
        public MemoryBuffer1D<byte, Stride1D.Dense> Canvases => canvases;
        public AcceleratorStream Uploads => uploads;
        public int Uploaded { get; set; }
        public (ProfilingMarker Start, ProfilingMarker End)? Marks { get; set; }

        /// <summary>A slot with <paramref name="bytes"/> of staging and canvases; what was allocated is freed if the rest fails.</summary>
        public static Slot Allocate(Accelerator accelerator, long bytes)
        {
            var staging = accelerator.AllocatePageLocked1D<byte>(bytes);
            MemoryBuffer1D<byte, Stride1D.Dense>? canvases = null;
            try
            {
                canvases = accelerator.Allocate1D<byte>(bytes);
                return new Slot(staging, canvases, CopyQueue(accelerator));
            }
            catch
            {
                canvases?.Dispose();
                staging.Dispose();
                throw;
            }
        }

        /// <summary>On CUDA a non-blocking stream: neither waits for, nor holds up, the engine's stream.</summary>
        private static AcceleratorStream CopyQueue(Accelerator accelerator) =>
            accelerator is CudaAccelerator cuda ? cuda.CreateStream(StreamFlags.CU_STREAM_NON_BLOCKING) : accelerator.CreateStream();

        public void ForgetMarks()
        {
            if (Marks is not { } marks) return;
            marks.Start.Dispose();
            marks.End.Dispose();
            Marks = null;
        }

        public void Dispose()
        {
            ForgetMarks();
            uploads.Dispose();
            staging.Dispose();
            canvases.Dispose();
        }
    }

    public DeviceCanvases(KernelLibrary kernels, InputSpec spec, int capacity, int slots)
    {
        _kernels = kernels;
        _spec = spec;
        Capacity = capacity;
        long bytes = (long)capacity * spec.ValuesPerImage;
        var accelerator = kernels.Accelerator;
        try
        {
            for (int slot = 0; slot < slots; slot++) _slots.Add(Slot.Allocate(accelerator, bytes));
        }
        catch (Exception e) when (e is AcceleratorException or OutOfMemoryException)
        {
            Dispose();
            throw new DeviceOutOfMemoryException($"{accelerator.Name}: no room for {slots} x {capacity} canvases of " +
                $"{spec.Width}x{spec.Height} ({slots * bytes / (1024 * 1024)} MB); try --batch {Math.Max(1, capacity / 2)}", e);
        }
    }

    public int Slots => _slots.Count;

    /// <summary>How many canvases each slot of <see cref="Staging"/> holds.</summary>
    public int Capacity { get; }

    public Span<byte> Staging(int slot) => _slots[slot].Staging.Span;

    /// <summary>Queues the copy of a staging slot's first <paramref name="count"/> canvases to the slot's canvases on the
    /// device and returns at once; the staging slot must not be written until <see cref="Normalize"/> of them has returned.
    /// Any thread may call this (it makes the accelerator's context current on it).</summary>
    public void Upload(int slot, int count)
    {
        CheckRange(0, count);
        var s = _slots[slot];
        _kernels.Accelerator.Bind();
        s.ForgetMarks();
        long bytes = (long)count * _spec.ValuesPerImage;
        var start = s.Uploads.AddProfilingMarker();
        s.Canvases.View.SubView(0, bytes).CopyFrom(s.Uploads, s.Staging.ArrayView.SubView(0, bytes));
        s.Marks = (start, s.Uploads.AddProfilingMarker());
        s.Uploaded = count;
    }

    /// <summary>Waits for the slot's upload, then queues the normalisation of its canvases <paramref name="first"/>..+
    /// <paramref name="count"/> into <paramref name="target"/> (the plan's input, 3·W·H floats per canvas) on the engine's stream.</summary>
    public void Normalize(int slot, ArrayView<float> target, int first, int count)
    {
        CheckRange(first, count);
        var s = _slots[slot];
        if (first + count > s.Uploaded)
            throw new InvalidOperationException($"canvases {first}..{first + count - 1} of slot {slot} were not uploaded (uploaded: {s.Uploaded})");
        s.Uploads.Synchronize();
        long per = _spec.ValuesPerImage;
        _kernels.Canvas(count * _spec.Width * _spec.Height, s.Canvases.View.SubView(first * per, count * per), target, DeviceLetterbox.Format(_spec));
    }

    /// <summary>Device time of the slot's last upload, once <see cref="Normalize"/> has waited for it.</summary>
    public double UploadMs(int slot) => _slots[slot].Marks is { } marks ? marks.End.MeasureFrom(marks.Start).TotalMilliseconds : 0;

    private void CheckRange(int first, int count)
    {
        if (first < 0 || count < 1 || first + count > Capacity)
            throw new ArgumentOutOfRangeException(nameof(count), $"canvases {first}..{first + count - 1} are outside the {Capacity} staged");
    }

    public void Dispose()
    {
        foreach (var slot in _slots) slot.Dispose();
    }
}
