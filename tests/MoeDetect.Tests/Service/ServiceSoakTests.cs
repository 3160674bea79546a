using System.Diagnostics;
using System.Text.Json;
using MoeDetect.Service;
using MoeDetect.Service.Configuration;
using MoeDetect.Tests.Service.Fixtures;
using MoeDetect.Tests.Support;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Service;

/// <summary>A bounded soak, not for CI: set MOEDETECT_SOAK_SECONDS (e.g. 600) to run the service on all four shared
/// videos as looping cameras with the default model and a real broker, then check that memory and lag stayed flat.
/// <c>MOEDETECT_SOAK_SECONDS=600 dotnet test tests/MoeDetect.Tests --filter ServiceSoak</c></summary>
public sealed class ServiceSoakTests(ITestOutputHelper output)
{
    private static readonly string[] Videos =
        ["pedestrians-720p.avi", "car-detection.mp4", "one-by-one-person-detection.mp4", "bottle-detection.mp4"];

    [SkippableFact]
    public async Task Four_cameras_for_minutes_keep_memory_and_lag_flat()
    {
        Skip.IfNot(int.TryParse(Environment.GetEnvironmentVariable("MOEDETECT_SOAK_SECONDS"), out int seconds) && seconds >= 60,
            "set MOEDETECT_SOAK_SECONDS (60 or more) to run the soak");
        Skip.If(MosquittoBroker.Missing is not null, MosquittoBroker.Missing);
        Skip.If(TestPaths.SharedMissing is not null, TestPaths.SharedMissing);
        Skip.IfNot(File.Exists(TestPaths.DefaultModel), "the default model is not in models/");

        using var broker = MosquittoBroker.Start(TestPaths.NewTempFolder());
        await using var recorder = await MqttRecorder.SubscribeAsync(broker.Port, "soak/+/available");
        await using var stats = await MqttRecorder.SubscribeAsync(broker.Port, "soak/stats");
        int httpPort = MosquittoBroker.FreePort();
        var options = new ServiceOptions
        {
            Cameras = Videos.Select((v, i) => new CameraOptions
            {
                Name = $"cam{i + 1}", Source = TestPaths.SharedVideo(v), Loop = true, FpsLimit = 5, InputSize = new FrameSize(768, 432),
            }).ToList(),
            Model = new ModelOptions { Path = TestPaths.DefaultModel },
            Mqtt = new MqttOptions { Host = "127.0.0.1", Port = broker.Port, TopicPrefix = "soak", StatsIntervalSeconds = 5 },
            Metrics = new MetricsOptions { Port = httpPort },
        };
        using var stop = new CancellationTokenSource();
        var service = Task.Run(() => ServiceHost.RunAsync(options, stop.Token));
        var samples = new List<(double At, long WorkingSetMb, string Health)>();
        var clock = Stopwatch.StartNew();
        using var http = new HttpClient();
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            await Task.WhenAny(service, Task.Delay(TimeSpan.FromSeconds(10)));
            Assert.False(service.IsCompleted, "the service stopped by itself");
            GC.Collect();
            string health = await http.GetStringAsync($"http://127.0.0.1:{httpPort}/healthz");
            samples.Add((clock.Elapsed.TotalSeconds, Process.GetCurrentProcess().WorkingSet64 >> 20, health));
            output.WriteLine($"{clock.Elapsed.TotalSeconds:F0} s: {samples[^1].WorkingSetMb} MB, {health}");
        }
        Assert.DoesNotContain(recorder.Messages, m => m.Payload == "offline");   // no camera was lost while running
        stop.Cancel();
        Assert.Equal(0, await service);

        var last = JsonDocument.Parse(samples[^1].Health).RootElement;
        foreach (var camera in last.GetProperty("cameras").EnumerateObject())
        {
            Assert.Equal("online", camera.Value.GetProperty("state").GetString());
            Assert.True(camera.Value.GetProperty("processed").GetInt64() > 0, $"{camera.Name} processed nothing");
        }
        // After warm-up (the first quarter), the working set may not keep growing.
        var warm = samples.First(s => s.At >= seconds / 4.0);
        Assert.True(samples[^1].WorkingSetMb - warm.WorkingSetMb < 150,
            $"working set grew from {warm.WorkingSetMb} MB to {samples[^1].WorkingSetMb} MB");
        Assert.Equal(0, last.GetProperty("mqtt").GetProperty("queue_depth").GetInt32());
        output.WriteLine($"processed {last.GetProperty("detector").GetProperty("frames_processed")} frames in {clock.Elapsed.TotalSeconds:F0} s");
    }
}
