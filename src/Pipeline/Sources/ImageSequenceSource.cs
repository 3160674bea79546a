using OpenCvSharp;
using MoeDetect.Pipeline.Frames;

namespace MoeDetect.Pipeline.Sources;

/// <summary>A list of image files read as one sequence (a folder of images). An unreadable image is an error
/// naming the file; frame timestamps follow the nominal rate given (default 1 frame per second, as stills have none).</summary>
public sealed class ImageSequenceSource(SourceSpec spec, double framesPerSecond = 1) : IFrameSource
{
    private readonly IReadOnlyList<string> _files = spec.ImageFiles ?? throw new ArgumentException("image sequence needs files", nameof(spec));

    public SourceSpec Spec { get; } = spec;
    public long? FrameCount => _files.Count;
    public double? FramesPerSecond { get; } = framesPerSecond;

    public IEnumerable<Frame> ReadFrames(CancellationToken cancellation)
    {
        for (int i = 0; i < _files.Count && !cancellation.IsCancellationRequested; i++)
        {
            var image = Cv2.ImRead(_files[i], ImreadModes.Color);
            if (image.Empty())
            {
                image.Dispose();
                throw new SourceException($"cannot read image {_files[i]}: the file is corrupt or not an image");
            }
            yield return new Frame(image, Path.GetFileName(_files[i]), i, i * 1000.0 / FramesPerSecond!.Value);
        }
    }

    public void Dispose() { }
}
