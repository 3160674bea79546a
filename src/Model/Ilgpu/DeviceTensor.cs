using ILGPU;
using MoeDetect.Kernels.Tensors;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Device memory one or more tensors share (a Reshape shares its input's). The memory plan gives it a view
/// into a reusable slot once every step of the plan is known; <see cref="FirstStep"/>/<see cref="LastStep"/> are the
/// steps that write it first and read it last.</summary>
internal sealed class Storage(long length, int firstStep)
{
    public long Length { get; } = length;
    /// <summary>Lowered when another storage is placed inside this one by a step before it (<see cref="PlaceIn"/>).</summary>
    public int FirstStep { get; private set; } = firstStep;
    /// <summary>Raising it raises the <see cref="Parent"/>'s too: a storage inside another keeps that one alive while it is read.</summary>
    public int LastStep
    {
        get => _lastStep;
        set
        {
            _lastStep = value;
            if (Parent is not null && Parent.LastStep < value) Parent.LastStep = value;
        }
    }
    private int _lastStep = firstStep;
    /// <summary>Input, outputs and constants keep their own memory for the plan's lifetime.</summary>
    public bool Pinned { get; init; }
    public ArrayView<float> View { get; set; }
    /// <summary>The storage this one lies inside, from <see cref="Offset"/> on (a Concat input written in place, a Split or
    /// Slice output that is a contiguous part of its input), or null.</summary>
    public Storage? Parent { get; private set; }
    public long Offset { get; private set; }

    /// <summary>The storage with memory of its own that this one lies in (itself where not placed), and this one's
    /// offset in it.</summary>
    public (Storage Storage, long Offset) Outermost
    {
        get
        {
            if (Parent is null) return (this, 0);
            var (storage, offset) = Parent.Outermost;
            return (storage, offset + Offset);
        }
    }

    /// <summary>Whether its images lie apart in the parent's (a Concat input or a channel range at batch &gt; 1), not
    /// in one run of <see cref="Length"/> values from <see cref="Offset"/> on.</summary>
    public bool Spread { get; private set; }

    /// <summary>Makes this storage part of <paramref name="parent"/> from <paramref name="offset"/> on: it gets no memory
    /// of its own, and the parent lives from this one's first step to the later of their last steps.</summary>
    public void PlaceIn(Storage parent, long offset, bool spread)
    {
        (Parent, Offset, Spread) = (parent, offset, spread);
        parent.FirstStep = Math.Min(parent.FirstStep, FirstStep);
        parent.LastStep = Math.Max(parent.LastStep, LastStep);
    }
}

/// <summary>Where a producer whose kernel can write strided (the GEMM convolutions, Resize) writes its output: its own
/// tensor, unless a Concat along channels places it as a slice of the Concat's output (<see cref="Place"/>), saving
/// the Concat's copy; the Concat's fused activation is then the producer's to apply. Read when the plan runs, so a
/// Concat compiled after the producer can still change it.</summary>
internal sealed class OutputPlacement(Activation own)
{
    /// <summary>Values between images in the target (0: not placed, the producer's own contiguous tensor).</summary>
    public int ImageStride { get; private set; }
    public Activation Activation { get; private set; } = own;

    /// <summary>Whether the producer can also apply <paramref name="activation"/> (it has none of its own, or the
    /// Concat none) and has not been placed already.</summary>
    public bool Accepts(Activation activation) =>
        ImageStride == 0 && (activation.Function == UnaryFunction.Identity || Activation.Function == UnaryFunction.Identity);

    /// <summary>Called with the producer's storage placed in the target (<see cref="Storage.PlaceIn"/>).</summary>
    public void Place(int imageStride, Activation activation)
    {
        ImageStride = imageStride;
        if (activation.Function != UnaryFunction.Identity) Activation = activation;
    }

    /// <summary>The memory the producer writes through: placed, its storage's view, which runs from the slice to the
    /// target's end (images lie ImageStride apart); else its own tensor's.</summary>
    public ArrayView<float> View(DeviceTensor own) => ImageStride == 0 ? own.View : own.Storage.View;
}

/// <summary>A tensor in device memory: shape, storage and whether ONNX types it as integer (kept as exact floats).</summary>
internal sealed class DeviceTensor(int[] shape, Storage storage, bool isInteger)
{
    public int[] Shape { get; } = shape;
    public Storage Storage { get; } = storage;
    public bool IsInteger { get; } = isInteger;
    /// <summary>Set by producers that can write their output into a Concat's (<see cref="OutputPlacement"/>).</summary>
    public OutputPlacement? Placement { get; init; }
    /// <summary>For a channel range of a 4-D tensor read where it lies (a Split or Slice along channels): that tensor, whose
    /// channels from <see cref="FirstChannel"/> on this is. Its images lie the whole's <see cref="ImageStride"/> apart.</summary>
    public DeviceTensor? Whole { get; init; }
    public int FirstChannel { get; init; }
    public int Length => Shape.Aggregate(1, (a, b) => a * b);
    public ArrayView<float> View => Storage.View.SubView(0, Length);

    /// <summary>Values between images, read when the plan runs (a Concat compiled later may still place the memory):
    /// a channel range's whole's, a tensor written into a Concat's output that one's, else the tensor's own image size.</summary>
    public int ImageStride => Whole?.ImageStride ?? (Placement is { ImageStride: > 0 } placed ? placed.ImageStride : Length / Math.Max(1, Shape[0]));

    /// <summary>A channel range, or a tensor written into a Concat's output, at batch &gt; 1: its images are not
    /// contiguous, and only readers that take an <see cref="ImageStride"/> (the GEMMs, Concat) may read it as it lies;
    /// others read a contiguous copy.</summary>
    public bool IsStrided => (Whole is not null || Placement is { ImageStride: > 0 }) && Shape[0] > 1;

    /// <summary>The memory from the tensor's first value on, to the end of what it lies in: what strided readers index.</summary>
    public ArrayView<float> StridedView => Storage.View;
}

/// <summary>A graph value while a plan is built: known on the host (constants, folded shapes) or computed on the device.</summary>
internal readonly record struct Value(HostTensor? Host, DeviceTensor? Device)
{
    public int[] Shape => Host?.Shape ?? Device!.Shape;
    public bool IsInteger => Host?.IsInteger ?? Device!.IsInteger;
    public static implicit operator Value(HostTensor t) => new(t, null);
    public static implicit operator Value(DeviceTensor t) => new(null, t);
}
