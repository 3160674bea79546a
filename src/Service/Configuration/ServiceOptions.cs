namespace MoeDetect.Service.Configuration;

/// <summary>Everything `moedetect serve` needs, from a config file (<see cref="ServiceConfigFile"/>) or from the
/// quick-start flags (<see cref="QuickStart"/>). Checked by <see cref="OptionsValidator"/> before anything starts.</summary>
public sealed record ServiceOptions
{
    public IReadOnlyList<CameraOptions> Cameras { get; init; } = [];
    public ModelOptions Model { get; init; } = new();
    public MqttOptions Mqtt { get; init; } = new();
    public TrackingOptions Tracking { get; init; } = new();
    public ReconnectOptions Reconnect { get; init; } = new();
    public OutputOptions Outputs { get; init; } = new();
    public MetricsOptions Metrics { get; init; } = new();

    /// <summary>Fills in the model when neither the file nor the flags named one.</summary>
    public ServiceOptions WithDefaultModel(string path) => Model.Path is null ? this with { Model = Model with { Path = path } } : this;
}

/// <summary>One camera: where its frames come from and what counts as an event on it. <see cref="Source"/> is
/// anything <c>detect</c> accepts as one input: a stream URL, a device number or a video file.</summary>
public sealed record CameraOptions
{
    public string Name { get; init; } = "";
    public string Source { get; init; } = "";
    public bool Enabled { get; init; } = true;
    /// <summary>Replay a file forever, so that a file stands in for a camera.</summary>
    public bool Loop { get; init; }
    /// <summary>Most frames per second handed to the detector (by frame time); null takes every frame.</summary>
    public double? FpsLimit { get; init; }
    /// <summary>Frames larger than this are scaled down right after decoding; boxes and zones are in these pixels.</summary>
    public FrameSize? InputSize { get; init; }
    /// <summary>Labels to report (e.g. person, car); null reports every class of the model.</summary>
    public IReadOnlyList<string>? Labels { get; init; }
    /// <summary>Lowest score that starts or confirms a tracked object on this camera.</summary>
    public double Confidence { get; init; } = 0.5;
    public IReadOnlyList<ZoneOptions> Zones { get; init; } = [];
}

public sealed record FrameSize(int Width, int Height);

/// <summary>A named polygon on a camera's picture. Points are pixels of the (scaled) frame, or fractions of its
/// width and height when every coordinate is between 0 and 1. An object is in a zone when the bottom centre of
/// its box (where it stands) is inside.</summary>
public sealed record ZoneOptions
{
    public string Name { get; init; } = "";
    public IReadOnlyList<ZonePoint> Points { get; init; } = [];
    /// <summary>Labels this zone reports; null reports all the camera's labels.</summary>
    public IReadOnlyList<string>? Labels { get; init; }
}

public readonly record struct ZonePoint(double X, double Y);

public sealed record ModelOptions
{
    /// <summary>The model file; null takes the bundled default, which the caller resolves
    /// (<see cref="ServiceOptions.WithDefaultModel"/>).</summary>
    public string? Path { get; init; }
    /// <summary>cpu, gpu or auto.</summary>
    public string Device { get; init; } = "cpu";
    public int Threads { get; init; }
    /// <summary>Most frames per detector run; frames of different cameras are batched together.</summary>
    public int MaxBatch { get; init; } = 8;
    public double Iou { get; init; } = 0.45;
}

public sealed record MqttOptions
{
    /// <summary>Broker host; null runs the service without MQTT (metrics and logs only).</summary>
    public string? Host { get; init; }
    public int Port { get; init; } = 1883;
    public string TopicPrefix { get; init; } = "moedetect";
    public string ClientId { get; init; } = "moedetect-" + Environment.MachineName.ToLowerInvariant();
    public string? Username { get; init; }
    public string? Password { get; init; }
    public bool Tls { get; init; }
    /// <summary>Accept a broker certificate that does not validate (self-signed test brokers only).</summary>
    public bool TlsAllowUntrusted { get; init; }
    public double KeepAliveSeconds { get; init; } = 30;
    /// <summary>QoS of events, availability and camera state (delivered after reconnection).</summary>
    public int EventQos { get; init; } = 1;
    /// <summary>QoS of per-frame detections, counts and stats (dropped while the broker is away).</summary>
    public int TelemetryQos { get; init; }
    /// <summary>Events kept while the broker is away; the oldest are dropped first (and counted).</summary>
    public int QueueSize { get; init; } = 1000;
    /// <summary>Least seconds between two detection messages of one camera; 0 publishes every processed frame.</summary>
    public double DetectionsIntervalSeconds { get; init; }
    public double StatsIntervalSeconds { get; init; } = 10;
}

/// <summary>ByteTrack-style association: detections at or above the camera's confidence start and keep tracks,
/// weaker ones down to <see cref="LowConfidence"/> only keep existing tracks alive.</summary>
public sealed record TrackingOptions
{
    public double LowConfidence { get; init; } = 0.1;
    public double MatchIou { get; init; } = 0.2;
    public double LowMatchIou { get; init; } = 0.5;
    /// <summary>Frames a new track must be seen in before its "new" event.</summary>
    public int MinHits { get; init; } = 2;
    /// <summary>Seconds an unseen object is kept (and can be matched again) before its "end" event.</summary>
    public double LostSeconds { get; init; } = 2;
    /// <summary>Least seconds between two "update" events of one object, unless its zones change.</summary>
    public double UpdateIntervalSeconds { get; init; } = 5;
}

/// <summary>Exponential backoff with jitter for cameras and the broker.</summary>
public sealed record ReconnectOptions
{
    public double InitialSeconds { get; init; } = 1;
    public double MaxSeconds { get; init; } = 30;
}

public sealed record OutputOptions
{
    /// <summary>Folder for one JPEG per event (the frame with the object's box); null writes none.</summary>
    public string? Snapshots { get; init; }
    /// <summary>Folder for annotated clips recorded while a camera has events; null records none.</summary>
    public string? Recordings { get; init; }
    /// <summary>Seconds a clip goes on after the camera's last event ended.</summary>
    public double RecordingTailSeconds { get; init; } = 2;
}

public sealed record MetricsOptions
{
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>Port of /healthz and /metrics; 0 serves neither.</summary>
    public int Port { get; init; } = 9464;
}
