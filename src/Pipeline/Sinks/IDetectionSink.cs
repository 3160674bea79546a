using MoeDetect.Pipeline.Frames;
using MoeDetect.Pipeline.Inference;

namespace MoeDetect.Pipeline.Sinks;

/// <summary>The corridor's last room: receives each processed frame with its detections, in frame order.
/// <see cref="Complete"/> publishes the output (e.g. renames a file into place); disposing without completing
/// leaves no file that looks complete.</summary>
public interface IDetectionSink : IDisposable
{
    void Write(Frame frame, FrameDetections detections);
    void Complete();
}
