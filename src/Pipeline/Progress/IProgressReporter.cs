namespace MoeDetect.Pipeline.Progress;

/// <summary>Receives progress of a run, one input at a time: a live bar on a terminal, log lines elsewhere.</summary>
public interface IProgressReporter
{
    void Started(string input, long? expectedFrames);
    void Advanced(string input, long processedFrames, long decodedFrames, double framesPerSecond);
    void Finished(string input, string status, string? message);
}
