using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace MoeDetect.Service.Configuration;

/// <summary>Reads a service configuration (YAML, or JSON, which YAML reads too) into <see cref="ServiceOptions"/>.
/// Every problem — syntax, wrong type, unknown key, unset environment variable, invalid value — is collected and
/// thrown together as one <see cref="ConfigException"/>. The keys are documented in docs/service.md and
/// configs/moedetect.example.yaml.</summary>
public static class ServiceConfigFile
{
    public static ServiceOptions Load(string path)
    {
        if (!File.Exists(path))
            throw new ConfigException(path, [new ConfigProblem("(file)", "not found; pass --config <file.yaml>, e.g. configs/moedetect.example.yaml")]);
        return Parse(File.ReadAllText(path), path);
    }

    public static ServiceOptions Parse(string text, string origin)
    {
        var problems = new List<ConfigProblem>();
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new ConfigException(origin, [new ConfigProblem("(syntax)", e.InnerException?.Message ?? e.Message, (int)e.Start.Line)]);
        }
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new ConfigException(origin, [new ConfigProblem("(root)", "expected a mapping with at least a 'cameras' list")]);

        var options = Bind(new ConfigSection(root, "", problems));
        problems.AddRange(OptionsValidator.Check(options));
        if (problems.Count > 0) throw new ConfigException(origin, problems);
        return options;
    }

    private static ServiceOptions Bind(ConfigSection root)
    {
        var defaults = new ServiceOptions();
        var options = new ServiceOptions
        {
            Cameras = root.Sections("cameras").Select(BindCamera).ToList(),
            Model = Optional(root.Section("model"), defaults.Model, BindModel),
            Mqtt = Optional(root.Section("mqtt"), defaults.Mqtt, BindMqtt),
            Tracking = Optional(root.Section("tracking"), defaults.Tracking, BindTracking),
            Reconnect = Optional(root.Section("reconnect"), defaults.Reconnect, (s, d) => new ReconnectOptions
            {
                InitialSeconds = s.Number("initial_seconds") ?? d.InitialSeconds,
                MaxSeconds = s.Number("max_seconds") ?? d.MaxSeconds,
            }),
            Outputs = Optional(root.Section("outputs"), defaults.Outputs, (s, d) => new OutputOptions
            {
                Snapshots = s.Text("snapshots") ?? d.Snapshots,
                Recordings = s.Text("recordings") ?? d.Recordings,
                RecordingTailSeconds = s.Number("recording_tail_seconds") ?? d.RecordingTailSeconds,
            }),
            Metrics = Optional(root.Section("metrics"), defaults.Metrics, (s, d) => new MetricsOptions
            {
                Host = s.Text("host") ?? d.Host,
                Port = s.Integer("port") ?? d.Port,
            }),
        };
        root.RejectUnknownKeys();
        return options;
    }

    private static T Optional<T>(ConfigSection? section, T defaults, Func<ConfigSection, T, T> bind)
    {
        if (section is null) return defaults;
        var value = bind(section, defaults);
        section.RejectUnknownKeys();
        return value;
    }

    private static CameraOptions BindCamera(ConfigSection s)
    {
        var d = new CameraOptions();
        var camera = new CameraOptions
        {
            Name = s.Text("name") ?? d.Name,
            Source = s.Text("source") ?? d.Source,
            Enabled = s.Flag("enabled") ?? d.Enabled,
            Loop = s.Flag("loop") ?? d.Loop,
            FpsLimit = s.Number("fps_limit"),
            InputSize = s.Section("input_size") is { } size ? BindSize(size) : null,
            Labels = s.Strings("labels"),
            Confidence = s.Number("confidence") ?? d.Confidence,
            Zones = s.Sections("zones").Select(z =>
            {
                var zone = new ZoneOptions { Name = z.Text("name") ?? "", Points = z.Points("points"), Labels = z.Strings("labels") };
                z.RejectUnknownKeys();
                return zone;
            }).ToList(),
        };
        s.RejectUnknownKeys();
        return camera;
    }

    private static FrameSize BindSize(ConfigSection s)
    {
        var size = new FrameSize(s.Integer("width") ?? 0, s.Integer("height") ?? 0);
        s.RejectUnknownKeys();
        return size;
    }

    private static ModelOptions BindModel(ConfigSection s, ModelOptions d) => new()
    {
        Path = s.Text("path") ?? d.Path,
        Device = s.Text("device") ?? d.Device,
        Threads = s.Integer("threads") ?? d.Threads,
        MaxBatch = s.Integer("max_batch") ?? d.MaxBatch,
        Iou = s.Number("iou") ?? d.Iou,
    };

    private static MqttOptions BindMqtt(ConfigSection s, MqttOptions d) => new()
    {
        Host = s.Text("host") ?? d.Host,
        Port = s.Integer("port") ?? d.Port,
        TopicPrefix = s.Text("topic_prefix") ?? d.TopicPrefix,
        ClientId = s.Text("client_id") ?? d.ClientId,
        Username = s.Text("username") ?? d.Username,
        Password = s.Text("password") ?? d.Password,
        Tls = s.Flag("tls") ?? d.Tls,
        TlsAllowUntrusted = s.Flag("tls_allow_untrusted") ?? d.TlsAllowUntrusted,
        KeepAliveSeconds = s.Number("keep_alive_seconds") ?? d.KeepAliveSeconds,
        EventQos = s.Integer("event_qos") ?? d.EventQos,
        TelemetryQos = s.Integer("telemetry_qos") ?? d.TelemetryQos,
        QueueSize = s.Integer("queue_size") ?? d.QueueSize,
        DetectionsIntervalSeconds = s.Number("detections_interval_seconds") ?? d.DetectionsIntervalSeconds,
        StatsIntervalSeconds = s.Number("stats_interval_seconds") ?? d.StatsIntervalSeconds,
    };

    private static TrackingOptions BindTracking(ConfigSection s, TrackingOptions d) => new()
    {
        LowConfidence = s.Number("low_confidence") ?? d.LowConfidence,
        MatchIou = s.Number("match_iou") ?? d.MatchIou,
        LowMatchIou = s.Number("low_match_iou") ?? d.LowMatchIou,
        MinHits = s.Integer("min_hits") ?? d.MinHits,
        LostSeconds = s.Number("lost_seconds") ?? d.LostSeconds,
        UpdateIntervalSeconds = s.Number("update_interval_seconds") ?? d.UpdateIntervalSeconds,
    };
}
