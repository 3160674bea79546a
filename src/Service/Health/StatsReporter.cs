using Microsoft.Extensions.Hosting;
using MoeDetect.Service.Cameras;
using MoeDetect.Service.Mqtt;

namespace MoeDetect.Service.Health;

/// <summary>Publishes <c>&lt;prefix&gt;/stats</c> (the whole service) and <c>&lt;prefix&gt;/&lt;camera&gt;/stats</c>
/// at the configured interval.</summary>
public sealed class StatsReporter(ServiceReport report, IReadOnlyList<CameraFeed> feeds, MqttPublisher mqtt, TimeSpan interval) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        if (!mqtt.Enabled) return;
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping))
            {
                mqtt.PublishTelemetry(mqtt.Topics.Stats, report.Build());
                foreach (var feed in feeds)
                    mqtt.PublishTelemetry(mqtt.Topics.CameraStats(feed.Name), report.Camera(feed));
            }
        }
        catch (OperationCanceledException) { }
    }
}
