using System.CommandLine;
using MoeDetect.Cli.Commands;

namespace MoeDetect.Tests.Support;

/// <summary>The options every model-running verb shares, parsed on a command of their own.</summary>
internal static class ModelOptionsParse
{
    public static (ModelOptions Options, ParseResult Parse) Parse(params string[] args)
    {
        var options = new ModelOptions();
        var command = new Command("bench");
        options.AddTo(command);
        return (options, command.Parse(args));
    }
}
