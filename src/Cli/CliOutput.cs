namespace MoeDetect.Cli;

/// <summary>One-line messages on standard error, prefixed with the program name.</summary>
public static class CliOutput
{
    public static void Error(string message) => System.Console.Error.WriteLine($"moedetect: error: {message}");
    public static void Warn(string message) => System.Console.Error.WriteLine($"moedetect: {message}");
}
