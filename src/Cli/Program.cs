using System.CommandLine;
using MoeDetect.Cli;
using MoeDetect.Cli.Commands;
using MoeDetect.Model;

var root = new RootCommand("MoeDetect: real-time object detection for video (ES-MoE detectors on CPU and GPU)");
root.Subcommands.Add(DetectCommand.Create());
root.Subcommands.Add(EvalCommand.Create());
root.Subcommands.Add(ConvertCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(ServeCommand.Create());

try
{
    // Our own handler below prints user-facing errors as one line; anything else keeps its stack trace.
    // SIGTERM/Ctrl+C cancel the verb's token; the service then needs time to finish in-flight frames, flush MQTT and
    // publish its offline state (its host allows 30 s).
    return await root.Parse(args).InvokeAsync(new InvocationConfiguration
    {
        EnableDefaultExceptionHandler = false,
        ProcessTerminationTimeout = TimeSpan.FromSeconds(35),
    });
}
catch (Exception e) when (e is MoeDetectException or MoeDetect.Evaluation.InvalidCocoFileException or MoeDetect.Conversion.ModelConversionException)
{
    CliOutput.Error(e.Message);
    return ExitCodes.Error;
}
