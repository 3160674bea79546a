using MoeDetect.Pipeline.Frames;

namespace MoeDetect.Pipeline.Sources;

/// <summary>Produces decoded frames in order. Throws <see cref="SourceException"/> when the input is unusable
/// (including a video whose first frame cannot be decoded).</summary>
public interface IFrameSource : IDisposable
{
    SourceSpec Spec { get; }

    /// <summary>Frames expected in total, when the container says (files); null for live sources.</summary>
    long? FrameCount { get; }

    /// <summary>Nominal frames per second, when known.</summary>
    double? FramesPerSecond { get; }

    IEnumerable<Frame> ReadFrames(CancellationToken cancellation);
}
