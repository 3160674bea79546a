namespace MoeDetect.Pipeline.Sources;

public enum SourceKind { VideoFile, ImageSequence, Stream, Device }

/// <summary>One input the user named, resolved: a video file, a set of images read as one sequence, a network
/// stream (RTSP/HTTP), or a local capture device. <see cref="Name"/> is a file-system-safe name for its outputs.</summary>
public sealed record SourceSpec(SourceKind Kind, string Location, string Name, IReadOnlyList<string>? ImageFiles = null)
{
    /// <summary>Live sources produce frames in real time; stale frames are dropped rather than queued.</summary>
    public bool IsLive => Kind is SourceKind.Stream or SourceKind.Device;
}
