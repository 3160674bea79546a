using System.Diagnostics;
using MoeDetect.Model;
using MoeDetect.Pipeline.Inference;
using MoeDetect.Pipeline.Progress;
using MoeDetect.Pipeline.Timing;

namespace MoeDetect.Pipeline.Offline;

/// <summary>The offline batch tool: each input in turn through the corridor, a bad input recorded and skipped,
/// then <c>summary.json</c> written atomically.</summary>
public sealed class DetectJob(FrameDetector detector, DetectJobOptions options, IProgressReporter progress)
{
    public const string SummaryFileName = "summary.json";

    public async Task<RunReport> RunAsync(CancellationToken cancellation)
    {
        EnsureWritable(options.OutputFolder);
        var clock = Stopwatch.StartNew();
        var stages = new StageStatistics();
        var routes = new RouteStatistics();
        var outcomes = new List<InputOutcome>();
        foreach (var spec in options.Sources)
        {
            if (cancellation.IsCancellationRequested) break;
            outcomes.Add(await new InputRun(spec, detector, options, stages, routes, progress).RunAsync(cancellation));
        }
        var report = new RunReport(detector.Model.Path, detector.Model.Engine.Name, outcomes, stages.Summarise(),
            routes.Summarise(), clock.Elapsed.TotalSeconds);
        AtomicFile.WriteAllText(Path.Combine(options.OutputFolder, SummaryFileName), report.ToJson());
        return report;
    }

    private static void EnsureWritable(string folder)
    {
        try
        {
            Directory.CreateDirectory(folder);
            string probe = Path.Combine(folder, $".write-test-{Environment.ProcessId}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MoeDetectException($"output folder {folder} is not writable ({e.Message}); choose another --out");
        }
    }
}
