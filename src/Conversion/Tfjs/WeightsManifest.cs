using System.Buffers.Binary;
using System.Text.Json;

namespace MoeDetect.Conversion.Tfjs;

/// <summary>
/// Reads the weights a model.json's weightsManifest describes: the shards of each group concatenated, every entry
/// dequantized (float16, or uint8/uint16 affine) to its original type.
/// </summary>
internal static class WeightsManifest
{
    public static Dictionary<string, TfjsTensor> Read(string modelJsonPath, JsonElement root)
    {
        var weights = new Dictionary<string, TfjsTensor>();
        if (!root.TryGetProperty("weightsManifest", out var manifest))
            return weights;
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(modelJsonPath))!;
        foreach (var group in manifest.EnumerateArray())
        {
            var bytes = ReadShards(modelJsonPath, dir, group);
            var offset = 0;
            foreach (var entry in group.GetProperty("weights").EnumerateArray())
            {
                var name = entry.GetProperty("name").GetString()!;
                var shape = entry.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ToArray();
                var tensor = Decode(modelJsonPath, name, shape, entry, bytes, ref offset);
                weights[name] = tensor;
            }
        }
        return weights;
    }

    private static byte[] ReadShards(string modelJsonPath, string dir, JsonElement group)
    {
        using var all = new MemoryStream();
        foreach (var p in group.GetProperty("paths").EnumerateArray())
        {
            var shard = System.IO.Path.Combine(dir, p.GetString()!);
            if (!File.Exists(shard))
                throw new ModelConversionException(
                    $"Weight shard '{shard}' named by '{modelJsonPath}' does not exist; keep the .bin files next to model.json.");
            all.Write(File.ReadAllBytes(shard));
        }
        return all.ToArray();
    }

    private static TfjsTensor Decode(string modelJsonPath, string name, int[] shape, JsonElement entry, byte[] bytes, ref int offset)
    {
        var count = shape.Aggregate(1, (a, b) => a * b);
        var dtype = entry.GetProperty("dtype").GetString();
        var quantization = entry.TryGetProperty("quantization", out var q) ? q : (JsonElement?)null;
        var storedAs = quantization?.GetProperty("dtype").GetString() ?? dtype;
        var width = storedAs switch
        {
            "float32" or "int32" => 4,
            "float16" or "uint16" => 2,
            "uint8" or "bool" => 1,
            _ => throw new ModelConversionException($"'{modelJsonPath}': weight '{name}' has dtype '{storedAs}', which the converter does not read."),
        };
        if (offset + count * width > bytes.Length)
            throw new ModelConversionException(
                $"'{modelJsonPath}': the weight shards end before weight '{name}' (need {offset + count * width} bytes, have {bytes.Length}); the .bin file is truncated or belongs to another model.");
        var span = bytes.AsSpan(offset, count * width);
        offset += count * width;

        if (dtype == "bool")
            return TfjsTensor.OfBools(span.ToArray().Select(b => b != 0 ? 1 : 0).ToArray(), shape);
        var values = new double[count];
        for (var i = 0; i < count; i++)
            values[i] = storedAs switch
            {
                "float32" => BinaryPrimitives.ReadSingleLittleEndian(span[(i * 4)..]),
                "int32" => BinaryPrimitives.ReadInt32LittleEndian(span[(i * 4)..]),
                "float16" => (double)BinaryPrimitives.ReadHalfLittleEndian(span[(i * 2)..]),
                "uint16" => BinaryPrimitives.ReadUInt16LittleEndian(span[(i * 2)..]),
                _ => span[i],
            };
        if (storedAs is "uint8" or "uint16")
        {
            // Affine quantization: value = q * scale + min.
            var scale = quantization!.Value.GetProperty("scale").GetDouble();
            var min = quantization.Value.GetProperty("min").GetDouble();
            for (var i = 0; i < count; i++)
                values[i] = values[i] * scale + min;
        }
        return dtype switch
        {
            "float32" => TfjsTensor.OfFloats(values.Select(v => (float)v).ToArray(), shape),
            "int32" => TfjsTensor.OfInts(values.Select(v => (int)Math.Round(v)).ToArray(), shape),
            _ => throw new ModelConversionException($"'{modelJsonPath}': weight '{name}' has dtype '{dtype}', which the converter does not read."),
        };
    }
}
