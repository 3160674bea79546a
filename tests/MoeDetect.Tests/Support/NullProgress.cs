using MoeDetect.Pipeline.Progress;

namespace MoeDetect.Tests.Support;

/// <summary>Progress reports go nowhere in tests.</summary>
public sealed class NullProgress : IProgressReporter
{
    public void Started(string input, long? expectedFrames) { }
    public void Advanced(string input, long processedFrames, long decodedFrames, double framesPerSecond) { }
    public void Finished(string input, string status, string? message) { }
}
