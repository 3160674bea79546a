using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Loading;
using MoeDetect.Service.Batching;
using MoeDetect.Service.Cameras;
using MoeDetect.Service.Configuration;
using MoeDetect.Service.Health;
using MoeDetect.Service.Mqtt;
using MoeDetect.Pipeline.Sources;

namespace MoeDetect.Service;

/// <summary>The one entry point of `moedetect serve`: loads the model, assembles the service (a decode worker per
/// camera, the shared batching detector, MQTT, health/metrics, stats) on Microsoft.Extensions.Hosting and runs it
/// until the token is cancelled or the process gets SIGTERM/Ctrl+C, then shuts down gracefully: cameras stop, the
/// batch in flight is finished, open events end, MQTT is flushed and the service announces itself offline.</summary>
public static class ServiceHost
{
    /// <summary>Runs the service; returns the process exit code (0 after a clean shutdown, 1 when the detector
    /// failed). Throws <see cref="Model.MoeDetectException"/> (e.g. <see cref="ConfigException"/>) for problems the
    /// user must fix before it can start.</summary>
    public static async Task<int> RunAsync(ServiceOptions options, CancellationToken cancellation, Action<ILoggingBuilder>? logging = null)
    {
        var problems = OptionsValidator.Check(options);
        if (problems.Count > 0) throw new ConfigException("the service options", problems);
        if (options.Model.Path is null)
            throw new ConfigException("the service options", [new ConfigProblem("model.path", "no model given and no default model resolved (call WithDefaultModel)")]);
        using var model = LoadModel(options.Model);
        CheckLabels(options, model);

        using var host = Build(options, model, logging);
        await host.StartAsync(cancellation);
        await host.WaitForShutdownAsync(cancellation);
        var detector = host.Services.GetRequiredService<BatchingDetector>();
        var log = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("moedetect.serve");
        log.LogInformation("final report: {Report}", JsonSerializer.Serialize(host.Services.GetRequiredService<ServiceReport>().Build(), MqttPublisher.Json));
        return detector.ExecuteTask is { IsFaulted: true } ? 1 : 0;
    }

    /// <summary>Assembles the service without starting it. Hosted services stop in reverse order of registration,
    /// so cameras stop first and MQTT last.</summary>
    public static IHost Build(ServiceOptions options, DetectorModel model, Action<ILoggingBuilder>? logging = null)
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        if (logging is not null) logging(builder.Logging);
        else builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });

        var arrivals = new SemaphoreSlim(0);
        var feeds = options.Cameras.Where(c => c.Enabled).Select(c => new CameraFeed(c, IsLive(c), arrivals)).ToList();
        IReadOnlyList<CameraFeed> feedList = feeds;
        var s = builder.Services;
        s.AddSingleton(feedList);
        s.AddSingleton(new ServiceMetrics(feeds));
        s.AddSingleton(sp => new MqttPublisher(options.Mqtt, options.Reconnect, sp.GetRequiredService<ServiceMetrics>(), sp.GetRequiredService<ILogger<MqttPublisher>>()));
        s.AddSingleton(sp => new BatchingDetector(model, options, feeds, arrivals, sp.GetRequiredService<MqttPublisher>(),
            sp.GetRequiredService<ServiceMetrics>(), sp.GetRequiredService<ILogger<BatchingDetector>>()));
        s.AddSingleton<ServiceReport>();
        s.AddHostedService(sp => sp.GetRequiredService<MqttPublisher>());
        s.AddHostedService(sp => new HealthEndpoint(options.Metrics, sp.GetRequiredService<ServiceReport>(),
            sp.GetRequiredService<ServiceMetrics>(), sp.GetRequiredService<ILogger<HealthEndpoint>>()));
        s.AddHostedService(sp => new StatsReporter(sp.GetRequiredService<ServiceReport>(), feeds, sp.GetRequiredService<MqttPublisher>(),
            TimeSpan.FromSeconds(options.Mqtt.StatsIntervalSeconds)));
        s.AddHostedService(sp => sp.GetRequiredService<BatchingDetector>());
        foreach (var feed in feeds)
            s.AddSingleton<IHostedService>(sp =>
            {
                feed.StatusChanged += sp.GetRequiredService<MqttPublisher>().PublishCameraStatus;
                return new CameraWorker(feed, options.Reconnect, sp.GetRequiredService<ServiceMetrics>(), sp.GetRequiredService<ILogger<CameraWorker>>());
            });
        return builder.Build();
    }

    private static DetectorModel LoadModel(ModelOptions options)
    {
        var device = Enum.Parse<ComputeDevice>(options.Device, ignoreCase: true);
        return ModelLoader.Load(options.Path!, new EngineRequest(device, Threads: options.Threads, Warn: Console.Error.WriteLine));
    }

    /// <summary>Labels in the config must be classes of the loaded model; a typo would otherwise silently report nothing.</summary>
    private static void CheckLabels(ServiceOptions options, DetectorModel model)
    {
        var known = model.ClassNames.ToHashSet();
        var problems = new List<ConfigProblem>();
        for (int i = 0; i < options.Cameras.Count; i++)
        {
            var camera = options.Cameras[i];
            foreach (var label in camera.Labels ?? [])
                if (!known.Contains(label)) problems.Add(new ConfigProblem($"cameras[{i}].labels", $"'{label}' is not a class of {model.Path}"));
            for (int j = 0; j < camera.Zones.Count; j++)
                foreach (var label in camera.Zones[j].Labels ?? [])
                    if (!known.Contains(label)) problems.Add(new ConfigProblem($"cameras[{i}].zones[{j}].labels", $"'{label}' is not a class of {model.Path}"));
        }
        if (problems.Count > 0)
            throw new ConfigException($"the cameras' labels (the model knows: {string.Join(", ", model.ClassNames)})", problems);
    }

    /// <summary>Streams and devices are live (keep only the newest frame); files are not, even when looping.</summary>
    private static bool IsLive(CameraOptions camera)
    {
        try
        {
            return InputResolver.Resolve([camera.Source]) is [{ IsLive: true }];
        }
        catch (SourceException)
        {
            return false;   // a file that is not there yet; the camera worker retries it
        }
    }
}
