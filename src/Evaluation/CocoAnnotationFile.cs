using System.Text.Json;

namespace MoeDetect.Evaluation;

/// <summary>Parses a COCO "instances" json file into a <see cref="CocoDataset"/>. Every error names the file and the
/// json location (e.g. <c>annotations[12].bbox</c>) so a broken file can be fixed without guessing.</summary>
internal static class CocoAnnotationFile
{
    public static CocoDataset Read(string path)
    {
        if (!File.Exists(path))
            throw new InvalidCocoFileException($"COCO annotations file '{path}' does not exist; pass the path of an instances json file.");
        JsonDocument document;
        try
        {
            using var stream = File.OpenRead(path);
            document = JsonDocument.Parse(stream);
        }
        catch (JsonException e)
        {
            throw new InvalidCocoFileException($"COCO annotations file '{path}' is not valid json: {e.Message}", e);
        }
        using (document)
        {
            try
            {
                var root = document.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                    throw new FormatException("the top level must be a json object with images, categories and annotations");
                var images = ReadArray(root, "images", ReadImage);
                var categories = ReadArray(root, "categories", ReadCategory);
                var annotations = ReadArray(root, "annotations", ReadAnnotation);
                return new CocoDataset(images, categories, annotations);
            }
            catch (Exception e) when (e is FormatException or ArgumentException)
            {
                throw new InvalidCocoFileException($"COCO annotations file '{path}': {e.Message}", e);
            }
        }
    }

    private static List<T> ReadArray<T>(JsonElement root, string name, Func<JsonElement, string, int, T> readItem)
    {
        if (!root.TryGetProperty(name, out var array) || array.ValueKind != JsonValueKind.Array)
            throw new FormatException($"'{name}' is missing or not an array");
        var items = new List<T>(array.GetArrayLength());
        int index = 0;
        foreach (var element in array.EnumerateArray())
        {
            string where = $"{name}[{index}]";
            if (element.ValueKind != JsonValueKind.Object)
                throw new FormatException($"{where} is not an object");
            items.Add(readItem(element, where, index));
            index++;
        }
        return items;
    }

    private static CocoImage ReadImage(JsonElement e, string where, int _) => new(
        RequiredInt(e, where, "id"),
        OptionalString(e, where, "file_name") ?? "",
        OptionalInt(e, where, "width") ?? 0,
        OptionalInt(e, where, "height") ?? 0);

    private static CocoCategory ReadCategory(JsonElement e, string where, int _) => new(
        RequiredInt(e, where, "id"),
        OptionalString(e, where, "name") ?? throw new FormatException($"{where} has no 'name'"));

    private static CocoAnnotation ReadAnnotation(JsonElement e, string where, int index)
    {
        if (!e.TryGetProperty("bbox", out var bbox) || bbox.ValueKind != JsonValueKind.Array || bbox.GetArrayLength() != 4)
            throw new FormatException($"{where}.bbox must be an array of 4 numbers [x, y, width, height]");
        var v = bbox.EnumerateArray().Select((n, i) => Number(n, $"{where}.bbox[{i}]")).ToArray();
        if (v[2] < 0 || v[3] < 0)
            throw new FormatException($"{where}.bbox has a negative width or height");
        double area = e.TryGetProperty("area", out var areaElement)
            ? Number(areaElement, $"{where}.area")
            : throw new FormatException($"{where} has no 'area' (COCO area ranges small/medium/large are defined on it)");
        // pycocotools accepts 0/1 and true/false for iscrowd; absent means a regular object.
        bool isCrowd = e.TryGetProperty("iscrowd", out var crowd) && crowd.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Number => Number(crowd, $"{where}.iscrowd") != 0,
            _ => throw new FormatException($"{where}.iscrowd must be 0 or 1"),
        };
        return new CocoAnnotation(
            OptionalInt(e, where, "id") ?? index + 1,
            RequiredInt(e, where, "image_id"),
            RequiredInt(e, where, "category_id"),
            new CocoBox(v[0], v[1], v[2], v[3]),
            area,
            isCrowd);
    }

    private static int RequiredInt(JsonElement e, string where, string name) =>
        OptionalInt(e, where, name) ?? throw new FormatException($"{where} has no '{name}'");

    private static int? OptionalInt(JsonElement e, string where, string name)
    {
        if (!e.TryGetProperty(name, out var value)) return null;
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int result)) return result;
        throw new FormatException($"{where}.{name} must be a whole number, not {value.GetRawText()}");
    }

    private static string? OptionalString(JsonElement e, string where, string name)
    {
        if (!e.TryGetProperty(name, out var value)) return null;
        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw new FormatException($"{where}.{name} must be a string, not {value.GetRawText()}");
    }

    private static double Number(JsonElement value, string where) =>
        value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out double d) && double.IsFinite(d)
            ? d
            : throw new FormatException($"{where} must be a finite number, not {value.GetRawText()}");
}
