namespace MoeDetect.Model.Engines;

/// <summary>A dense float tensor in host memory, row-major, with its graph name. Batched tensors carry the batch
/// as the first dimension.</summary>
public sealed record NamedTensor(string Name, float[] Data, int[] Shape)
{
    public int ElementsPerItem => Shape.Length == 0 ? Data.Length : Data.Length / Math.Max(1, Shape[0]);

    /// <summary>The slice that belongs to one batch item.</summary>
    public ReadOnlySpan<float> Item(int batchIndex) => Data.AsSpan(batchIndex * ElementsPerItem, ElementsPerItem);

    public override string ToString() => $"{Name}[{string.Join(",", Shape)}]";
}
