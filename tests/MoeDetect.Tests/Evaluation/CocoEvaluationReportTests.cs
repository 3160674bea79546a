using System.Text.Json;
using MoeDetect.Evaluation;
using static MoeDetect.Tests.Evaluation.GroundTruthBuilder;

namespace MoeDetect.Tests.Evaluation;

public class CocoEvaluationReportTests
{
    private static CocoEvaluationReport Evaluate() => CocoEvaluator.Evaluate(
        new GroundTruthBuilder().Image(1).Box(1, Cat, 0, 0, 50, 50).Box(1, Dog, 100, 100, 10, 10).Build(),
        [Detection(1, Cat, 0, 0, 50, 50, 0.9), Detection(1, Dog, 300, 300, 10, 10, 0.9)]);

    [Fact]
    public void JsonCarriesTheStatisticsAndPerClassRows()
    {
        var report = Evaluate();

        using var json = JsonDocument.Parse(report.ToJson());
        var root = json.RootElement;

        Assert.Equal(report.Map50_95, root.GetProperty("map50_95").GetDouble());
        Assert.Equal(report.Map50, root.GetProperty("map50").GetDouble());
        Assert.Equal(report.Map75, root.GetProperty("map75").GetDouble());
        Assert.Equal(-1, root.GetProperty("map_large").GetDouble()); // no large objects
        Assert.Equal(report.MapSmall, root.GetProperty("map_small").GetDouble());
        Assert.Equal(report.MapMedium, root.GetProperty("map_medium").GetDouble());
        Assert.Equal(report.Mar100, root.GetProperty("mar100").GetDouble());
        Assert.Equal(1, root.GetProperty("images").GetInt32());
        Assert.Equal(2, root.GetProperty("detections").GetInt32());
        var rows = root.GetProperty("per_class").EnumerateArray().ToArray();
        Assert.Equal(["cat", "dog"], rows.Select(r => r.GetProperty("name").GetString()));
        Assert.Equal([1.0, 0.0], rows.Select(r => Math.Round(r.GetProperty("ap50").GetDouble(), 9)));
        Assert.Equal([Cat, Dog], rows.Select(r => r.GetProperty("category_id").GetInt32()));
        Assert.All(rows, r => Assert.Equal(1, r.GetProperty("gt_count").GetInt32()));
        Assert.Equal(0.5, report.Map50_95, 1e-12); // cat 1, dog 0
    }

    [Fact]
    public void TableAlignsStatisticsAndClassRows()
    {
        var lines = Evaluate().ToTable().Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Contains(lines, l => l.Contains("AP @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]") && l.TrimEnd().EndsWith("0.500"));
        var statistics = lines.Where(l => l.Contains(" = ")).ToArray();
        Assert.Equal(12, statistics.Length);
        Assert.Single(statistics.Select(l => l.IndexOf(" = ", StringComparison.Ordinal)).Distinct());
        var classRows = lines.Where(l => l.Contains(" cat ") || l.Contains(" dog ")).ToArray();
        Assert.Equal(2, classRows.Length);
        Assert.Equal(classRows[0].TrimEnd().Length, classRows[1].TrimEnd().Length);
    }
}
