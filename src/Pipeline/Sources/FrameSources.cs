namespace MoeDetect.Pipeline.Sources;

/// <summary>Opens the right reader for a resolved source.</summary>
public static class FrameSources
{
    public static IFrameSource Open(SourceSpec spec) => spec.Kind switch
    {
        SourceKind.ImageSequence => new ImageSequenceSource(spec),
        SourceKind.Stream => new FfmpegStreamSource(spec),
        _ => OpenVideo(spec),
    };

    private static IFrameSource OpenVideo(SourceSpec spec)
    {
        if (spec.Kind == SourceKind.VideoFile && !spec.Location.Contains('%'))
        {
            var info = new FileInfo(spec.Location);
            if (!info.Exists) throw new SourceException($"video not found: {spec.Location}");
            if (info.Length == 0) throw new SourceException($"video {spec.Location} is empty (0 bytes)");
        }
        return new VideoCaptureSource(spec);
    }
}
