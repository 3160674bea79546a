namespace MoeDetect.Cli;

public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>The run could not start or stopped: bad model, options, output folder, …</summary>
    public const int Error = 1;
    /// <summary>The run finished but at least one input failed (listed in the summary).</summary>
    public const int SomeInputsFailed = 3;
}
