using System.CommandLine;
using MoeDetect.Model.Engines;
using MoeDetect.Service;
using MoeDetect.Service.Configuration;

namespace MoeDetect.Cli.Commands;

/// <summary><c>moedetect serve</c>: the long-running edge camera service publishing to MQTT, configured by a file
/// (<c>--config</c>) or, for a quick start, by flags.</summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var config = new Option<string?>("--config", "-c") { Description = "Service config file (YAML or JSON; see configs/moedetect.example.yaml)" };
        var sources = new Option<string[]>("--source") { Description = "Quick start: a camera URL (rtsp://, http://), video file or device number; repeat for several", AllowMultipleArgumentsPerToken = false };
        var mqtt = new Option<string?>("--mqtt") { Description = "Quick start: broker as mqtt://[user:pass@]host:port (mqtts:// for TLS)" };
        var prefix = new Option<string?>("--topic-prefix") { Description = "Quick start: MQTT topic prefix (default moedetect)" };
        var loop = new Option<bool>("--loop") { Description = "Quick start: replay files forever, so a file stands in for a camera" };
        var model = new Option<string?>("--model", "-m") { Description = "Model file (default: the bundled model); overrides the config's model.path" };
        var device = new Option<ComputeDevice?>("--device") { Description = "cpu, gpu or auto (quick start)" };
        var confidence = new Option<double?>("--conf") { Description = "Quick start: minimum detection score (default 0.5)" };
        var metricsPort = new Option<int?>("--metrics-port") { Description = "Quick start: port of /healthz and /metrics on loopback" };
        var soakSeconds = new Option<int?>("--soak-seconds") { Description = "Run for N seconds, then shut down and log a final report (soak benchmark)" };
        soakSeconds.Validators.Add(r => { if (r.GetValue(soakSeconds) is < 1) r.AddError("--soak-seconds must be at least 1"); });

        var command = new Command("serve", "Run the edge camera service: several cameras, shared detector, tracking, zones, MQTT events, health and metrics");
        foreach (var o in new Option[] { config, sources, mqtt, prefix, loop, model, device, confidence, metricsPort, soakSeconds }) command.Options.Add(o);
        command.Validators.Add(r =>
        {
            if (r.GetValue(config) is not null && r.GetValue(sources) is { Length: > 0 })
                r.AddError("give either --config <file> or --source flags, not both");
        });

        command.SetAction(async (parse, cancellation) =>
        {
            var options = parse.GetValue(config) is { } file
                ? ServiceConfigFile.Load(file)
                : QuickStart.FromFlags(parse.GetValue(sources) ?? [], parse.GetValue(mqtt), parse.GetValue(prefix), parse.GetValue(loop),
                    parse.GetValue(model), parse.GetValue(device)?.ToString().ToLowerInvariant(), parse.GetValue(confidence), parse.GetValue(metricsPort));
            if (parse.GetValue(config) is not null && parse.GetValue(model) is { } overrideModel)
                options = options with { Model = options.Model with { Path = overrideModel } };
            if (options.Model.Path is null) options = options.WithDefaultModel(DefaultModel.Resolve());

            using var run = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            if (parse.GetValue(soakSeconds) is { } seconds) run.CancelAfter(TimeSpan.FromSeconds(seconds));
            return await ServiceHost.RunAsync(options, run.Token);
        });
        return command;
    }
}
