using System.Diagnostics;
using Spectre.Console;
using MoeDetect.Pipeline.Progress;

namespace MoeDetect.Cli.Console;

/// <summary>Chooses how progress is shown: a live bar per input (frames, FPS, ETA) on a terminal, plain log lines
/// on standard error when output is redirected (CI, files, pipes).</summary>
public static class ProgressDisplay
{
    public static bool IsInteractive => !System.Console.IsOutputRedirected && !System.Console.IsErrorRedirected
        && Environment.GetEnvironmentVariable("TERM") is not (null or "dumb");

    public static async Task<T> RunAsync<T>(Func<IProgressReporter, Task<T>> work)
    {
        if (!IsInteractive) return await work(new LogLineProgress(System.Console.Error));
        T result = default!;
        await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async context => result = await work(new BarProgress(context)));
        return result;
    }

    private sealed class BarProgress(ProgressContext context) : IProgressReporter
    {
        private readonly Dictionary<string, ProgressTask> _tasks = [];

        public void Started(string input, long? expectedFrames)
        {
            var task = context.AddTask(Markup.Escape(input), maxValue: expectedFrames ?? 1);
            task.IsIndeterminate = expectedFrames is null;
            _tasks[input] = task;
        }

        public void Advanced(string input, long processedFrames, long decodedFrames, double framesPerSecond)
        {
            var task = _tasks[input];
            task.Value = Math.Min(processedFrames, task.MaxValue);
            task.Description = Markup.Escape($"{input}  {processedFrames} frames  {framesPerSecond:0.0} fps");
        }

        public void Finished(string input, string status, string? message)
        {
            if (!_tasks.TryGetValue(input, out var task))
            {
                task = context.AddTask(Markup.Escape(input));
                _tasks[input] = task;
            }
            if (status != "ok") task.Description = $"[red]{Markup.Escape($"{input}: {status}: {message}")}[/]";
            task.Value = task.MaxValue;
            task.StopTask();
        }
    }

    private sealed class LogLineProgress(TextWriter log) : IProgressReporter
    {
        private static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);
        private readonly Stopwatch _sinceLastLine = Stopwatch.StartNew();
        private long? _expected;

        public void Started(string input, long? expectedFrames)
        {
            _expected = expectedFrames;
            log.WriteLine($"[detect] {input}: started{(expectedFrames is { } n ? $", {n} frames to process" : "")}");
            _sinceLastLine.Restart();
        }

        public void Advanced(string input, long processedFrames, long decodedFrames, double framesPerSecond)
        {
            if (_sinceLastLine.Elapsed < Interval) return;
            _sinceLastLine.Restart();
            string eta = _expected is { } n && framesPerSecond > 0 ? $", ETA {TimeSpan.FromSeconds(Math.Max(0, n - processedFrames) / framesPerSecond):m\\:ss}" : "";
            log.WriteLine($"[detect] {input}: {processedFrames}{(_expected is { } e ? $"/{e}" : "")} frames, {framesPerSecond:0.0} fps{eta}");
        }

        public void Finished(string input, string status, string? message) =>
            log.WriteLine($"[detect] {input}: {status}{(message is null ? "" : ": " + message)}");
    }
}
