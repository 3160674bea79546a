using ILGPU;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Device memory one or more tensors share (a Reshape shares its input's). The memory plan gives it a view
/// into a reusable slot once every step of the plan is known; <see cref="FirstStep"/>/<see cref="LastStep"/> are the
/// steps that write it first and read it last.</summary>
internal sealed class Storage(long length, int firstStep)
{
    public long Length { get; } = length;
    public int FirstStep { get; } = firstStep;
    public int LastStep { get; set; } = firstStep;
    /// <summary>Input, outputs and constants keep their own memory for the plan's lifetime.</summary>
    public bool Pinned { get; init; }
    public ArrayView<float> View { get; set; }
}

/// <summary>A tensor in device memory: shape, storage and whether ONNX types it as integer (kept as exact floats).</summary>
internal sealed class DeviceTensor(int[] shape, Storage storage, bool isInteger)
{
    public int[] Shape { get; } = shape;
    public Storage Storage { get; } = storage;
    public bool IsInteger { get; } = isInteger;
    public int Length => Shape.Aggregate(1, (a, b) => a * b);
    public ArrayView<float> View => Storage.View.SubView(0, Length);
}

/// <summary>A graph value while a plan is built: known on the host (constants, folded shapes) or computed on the device.</summary>
internal readonly record struct Value(HostTensor? Host, DeviceTensor? Device)
{
    public int[] Shape => Host?.Shape ?? Device!.Shape;
    public bool IsInteger => Host?.IsInteger ?? Device!.IsInteger;
    public static implicit operator Value(HostTensor t) => new(t, null);
    public static implicit operator Value(DeviceTensor t) => new(null, t);
}
