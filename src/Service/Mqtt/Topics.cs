namespace MoeDetect.Service.Mqtt;

/// <summary>The topic tree under the configured prefix (documented in docs/service.md), after Frigate's where it
/// fits: <c>available</c>, <c>events</c>, <c>stats</c>, and per camera its availability, state, detections,
/// per-label counts, zone crossings and stats.</summary>
public sealed class Topics(string prefix)
{
    public string Prefix { get; } = prefix;
    public string Available => $"{Prefix}/available";
    public string Events => $"{Prefix}/events";
    public string Stats => $"{Prefix}/stats";
    public string CameraAvailable(string camera) => $"{Prefix}/{camera}/available";
    public string CameraState(string camera) => $"{Prefix}/{camera}/state";
    public string CameraStats(string camera) => $"{Prefix}/{camera}/stats";
    public string Detections(string camera) => $"{Prefix}/{camera}/detections";
    public string LabelCount(string camera, string label) => $"{Prefix}/{camera}/{label}";
    public string ZoneCrossing(string camera, string zone) => $"{Prefix}/{camera}/zones/{zone}";
}
