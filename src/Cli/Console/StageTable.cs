using Spectre.Console;
using MoeDetect.Pipeline.Timing;

namespace MoeDetect.Cli.Console;

/// <summary>Prints per-stage timings as a table: where the milliseconds go.</summary>
public static class StageTable
{
    public static void Print(IReadOnlyList<StageSummary> stages, string title)
    {
        var table = new Table().Title(Markup.Escape(title)).Border(TableBorder.Simple);
        table.AddColumn("stage");
        foreach (var heading in new[] { "frames", "mean ms", "p50 ms", "p95 ms", "max ms", "share" })
            table.AddColumn(new TableColumn(heading).RightAligned());
        // Route, experts and the rest of the net are parts of inference; the share is of the top-level stages' total.
        double total = stages.Where(s => !Stages.IsPartOfInference(s.Stage)).Sum(s => s.MeanMs);
        foreach (var s in stages)
        {
            string share = Stages.IsPartOfInference(s.Stage) ? "(in inference)" : $"{100 * s.MeanMs / Math.Max(1e-9, total):0.0} %";
            table.AddRow(s.Stage, s.Count.ToString(), $"{s.MeanMs:0.00}", $"{s.P50Ms:0.00}", $"{s.P95Ms:0.00}", $"{s.MaxMs:0.00}", share);
        }
        AnsiConsole.Write(table);
    }
}
