using System.Globalization;
using System.Text;
using System.Text.Json;

namespace MoeDetect.Evaluation;

/// <summary>AP of one category (only categories with counted ground truth are listed; the others do not enter
/// the means). <paramref name="GroundTruthCount"/> counts its non-crowd boxes on the evaluated images.</summary>
public sealed record CocoClassResult(int CategoryId, string Name, double Ap50_95, double Ap50, int GroundTruthCount);

/// <summary>The twelve COCO bbox statistics, in pycocotools' order, plus per-category AP. A statistic is -1 where
/// no category has ground truth in that area range (pycocotools prints the same).</summary>
public sealed record CocoEvaluationReport(
    double Map50_95, double Map50, double Map75,
    double MapSmall, double MapMedium, double MapLarge,
    double Mar1, double Mar10, double Mar100,
    double MarSmall, double MarMedium, double MarLarge,
    IReadOnlyList<CocoClassResult> PerClass,
    int Images, int Detections, int MaxDetections)
{
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            foreach (var (name, _, value) in Statistics())
                json.WriteNumber(name, value);
            json.WriteNumber("images", Images);
            json.WriteNumber("detections", Detections);
            json.WriteNumber("max_detections", MaxDetections);
            json.WriteStartArray("per_class");
            foreach (var c in PerClass)
            {
                json.WriteStartObject();
                json.WriteNumber("category_id", c.CategoryId);
                json.WriteString("name", c.Name);
                json.WriteNumber("ap50_95", c.Ap50_95);
                json.WriteNumber("ap50", c.Ap50);
                json.WriteNumber("gt_count", c.GroundTruthCount);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>The statistics in pycocotools' wording, then one row per category, columns aligned.</summary>
    public string ToTable()
    {
        var text = new StringBuilder();
        text.AppendLine(Invariant($"COCO bbox evaluation: {Images} images, {Detections} detections (at most {MaxDetections} per image and category)"));
        foreach (var (_, caption, value) in Statistics())
            text.AppendLine(Invariant($"  {caption,-48} = {value,6:0.000}"));

        int nameWidth = Math.Max("category".Length, PerClass.Select(c => c.Name.Length).DefaultIfEmpty(0).Max());
        text.AppendLine();
        text.AppendLine(Invariant($"  {"id",4}  {"category".PadRight(nameWidth)}  {"gt",6}  {"AP50:95",7}  {"AP50",7}"));
        foreach (var c in PerClass)
            text.AppendLine(Invariant($"  {c.CategoryId,4}  {c.Name.PadRight(nameWidth)}  {c.GroundTruthCount,6}  {c.Ap50_95,7:0.000}  {c.Ap50,7:0.000}"));
        return text.ToString();
    }

    private IEnumerable<(string Key, string Caption, double Value)> Statistics()
    {
        string at = MaxDetections.ToString(CultureInfo.InvariantCulture).PadLeft(3);
        yield return ("map50_95", $"AP @[ IoU=0.50:0.95 | area=   all | maxDets={at} ]", Map50_95);
        yield return ("map50", $"AP @[ IoU=0.50      | area=   all | maxDets={at} ]", Map50);
        yield return ("map75", $"AP @[ IoU=0.75      | area=   all | maxDets={at} ]", Map75);
        yield return ("map_small", $"AP @[ IoU=0.50:0.95 | area= small | maxDets={at} ]", MapSmall);
        yield return ("map_medium", $"AP @[ IoU=0.50:0.95 | area=medium | maxDets={at} ]", MapMedium);
        yield return ("map_large", $"AP @[ IoU=0.50:0.95 | area= large | maxDets={at} ]", MapLarge);
        yield return ("mar1", "AR @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ]", Mar1);
        yield return ("mar10", "AR @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ]", Mar10);
        yield return ("mar100", $"AR @[ IoU=0.50:0.95 | area=   all | maxDets={at} ]", Mar100);
        yield return ("mar_small", $"AR @[ IoU=0.50:0.95 | area= small | maxDets={at} ]", MarSmall);
        yield return ("mar_medium", $"AR @[ IoU=0.50:0.95 | area=medium | maxDets={at} ]", MarMedium);
        yield return ("mar_large", $"AR @[ IoU=0.50:0.95 | area= large | maxDets={at} ]", MarLarge);
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
