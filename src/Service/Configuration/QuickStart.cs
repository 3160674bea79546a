using System.Text.RegularExpressions;
using MoeDetect.Pipeline.Sources;

namespace MoeDetect.Service.Configuration;

/// <summary>`moedetect serve` without a config file: one camera per <c>--source</c>, named after its file, host or
/// device, with the defaults of a config file for everything else.</summary>
public static partial class QuickStart
{
    /// <summary>Maps the quick-start flags to options, checked like a config file; throws <see cref="ConfigException"/>
    /// listing every problem, with the flag names as paths where a flag is at fault.</summary>
    public static ServiceOptions FromFlags(IReadOnlyList<string> sources, string? mqttUrl = null, string? topicPrefix = null,
        bool loop = false, string? model = null, string? device = null, double? confidence = null, int? metricsPort = null)
    {
        var problems = new List<ConfigProblem>();
        var defaults = new ServiceOptions();
        var mqtt = defaults.Mqtt with { TopicPrefix = topicPrefix ?? defaults.Mqtt.TopicPrefix };
        if (mqttUrl is not null)
            mqtt = ParseBrokerUrl(mqttUrl, mqtt, problems);
        if (sources.Count == 0)
            problems.Add(new ConfigProblem("--source", "give at least one --source <url|file|device>, or use --config <file>"));

        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var cameras = sources.Select((source, i) =>
        {
            string name = CameraName(source, i);
            for (int n = 2; !names.Add(name); n++) name = $"{CameraName(source, i)}_{n}";
            return new CameraOptions
            {
                Name = name, Source = source, Loop = loop,
                Confidence = confidence ?? new CameraOptions().Confidence,
            };
        }).ToList();

        var options = defaults with
        {
            Cameras = cameras,
            Mqtt = mqtt,
            Model = defaults.Model with { Path = model ?? defaults.Model.Path, Device = device ?? defaults.Model.Device },
            Metrics = defaults.Metrics with { Port = metricsPort ?? defaults.Metrics.Port },
        };
        problems.AddRange(OptionsValidator.Check(options).Select(FlagPath));
        if (problems.Count > 0) throw new ConfigException("the serve flags", problems);
        return options;
    }

    /// <summary><c>mqtt://[user:pass@]host[:port]</c>, or <c>mqtts://</c> for TLS (default ports 1883 and 8883).</summary>
    public static MqttOptions ParseBrokerUrl(string url, MqttOptions mqtt, List<ConfigProblem> problems)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("mqtt" or "mqtts") || uri.Host.Length == 0)
        {
            problems.Add(new ConfigProblem("--mqtt", $"expected mqtt://[user:pass@]host[:port] or mqtts://..., got '{url}'"));
            return mqtt;
        }
        bool tls = uri.Scheme == "mqtts";
        var credentials = uri.UserInfo.Split(':', 2);
        return mqtt with
        {
            Host = uri.Host,
            Port = uri.IsDefaultPort || uri.Port < 0 ? (tls ? 8883 : 1883) : uri.Port,
            Tls = tls,
            Username = credentials[0].Length > 0 ? Uri.UnescapeDataString(credentials[0]) : null,
            Password = credentials.Length > 1 ? Uri.UnescapeDataString(credentials[1]) : null,
        };
    }

    private static string CameraName(string source, int index)
    {
        try
        {
            var spec = InputResolver.Resolve([source]);
            if (spec.Count == 1)
            {
                var name = NotTopicSafe().Replace(spec[0].Name, "_").Trim('_');
                if (name.Length > 0) return name;
            }
        }
        catch (SourceException)
        {
            // A file that is missing now may appear later (the camera retries); the index names it meanwhile.
        }
        return $"camera{index + 1}";
    }

    private static ConfigProblem FlagPath(ConfigProblem p) => p.Path switch
    {
        var s when s.EndsWith(".source") => p with { Path = "--source " + SourceIndex(s) },
        var s when s.EndsWith(".confidence") => p with { Path = "--conf" },
        "model.path" => p with { Path = "--model" },
        "model.device" => p with { Path = "--device" },
        "metrics.port" => p with { Path = "--metrics-port" },
        "mqtt.topic_prefix" => p with { Path = "--topic-prefix" },
        _ => p,
    };

    private static string SourceIndex(string path) => "#" + (int.Parse(Regex.Match(path, @"\d+").Value) + 1);

    [GeneratedRegex("[^A-Za-z0-9_-]")]
    private static partial Regex NotTopicSafe();
}
