namespace MoeDetect.Model.Engines;

/// <summary>A dense float tensor in host memory, row-major, with its graph name. Batched tensors carry the batch
/// as the first dimension.</summary>
public sealed record NamedTensor(string Name, float[] Data, int[] Shape)
{
    public int ElementsPerItem => Shape.Length == 0 ? Data.Length : Data.Length / Math.Max(1, Shape[0]);

    /// <summary>The slice that belongs to one batch item.</summary>
    public ReadOnlySpan<float> Item(int batchIndex) => Data.AsSpan(batchIndex * ElementsPerItem, ElementsPerItem);

    /// <summary>Concatenates batch-first tensors of equal item shape along the batch dimension.</summary>
    public static NamedTensor Stack(string name, IReadOnlyList<NamedTensor> parts)
    {
        var data = new float[parts.Sum(p => p.Data.Length)];
        int offset = 0;
        foreach (var p in parts)
        {
            p.Data.CopyTo(data, offset);
            offset += p.Data.Length;
        }
        int[] shape = [.. parts[0].Shape];
        shape[0] = parts.Sum(p => p.Shape[0]);
        return new NamedTensor(name, data, shape);
    }

    public override string ToString() => $"{Name}[{string.Join(",", Shape)}]";
}
