using System.Diagnostics;
using System.Net;
using MoeDetect.Service;
using MoeDetect.Service.Configuration;
using MoeDetect.Tests.Service.Fixtures;
using MoeDetect.Tests.Support;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Service;

/// <summary>The whole service: real encoded video, a real ONNX graph run by ONNX Runtime, a real mosquitto and a
/// real subscriber, and its HTTP endpoints.</summary>
public sealed class ServiceHostTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [BrokerFact]
    public async Task Events_zones_counts_health_and_graceful_shutdown_end_to_end()
    {
        string folder = TestPaths.NewTempFolder();
        // The graph reports one person at (40, 40, 16×16) of its 64×64 input in every frame: in a 160×120 frame,
        // letterboxed at scale 0.4 with 8 px of padding on top, that is the box (80, 60)–(120, 100).
        string model = TinyDetectorGraphs.Write(folder, "person.onnx", [1, 3, 64, 64], "output0",
            TinyDetectorGraphs.YoloV8Output(2, 4, (40, 40, 16, 16, Class: 0, Score: 0.9f)), [1, 6, 4],
            new Dictionary<string, string> { ["names"] = "{0: 'person', 1: 'car'}" });
        string doorClip = TestVideos.Write(Path.Combine(folder, "door.mp4"), frames: 30);
        string yardClip = TestVideos.Write(Path.Combine(folder, "yard.mp4"), frames: 10);
        using var broker = MosquittoBroker.Start(folder);
        await using var recorder = await MqttRecorder.SubscribeAsync(broker.Port, "e2e/#");
        int httpPort = MosquittoBroker.FreePort();

        var options = ServiceConfigFile.Parse($$"""
            cameras:
              - name: door
                source: {{doorClip}}
                labels: [person]
                zones:
                  - name: mat
                    points: [[90, 90], [130, 90], [130, 119], [90, 119]]
                  - name: sky
                    points: [[0, 0], [1, 0], [1, 0.2], [0, 0.2]]
              - name: yard
                source: {{yardClip}}
                loop: true
                labels: [car]
            model: { path: {{model}}, threads: 1 }
            mqtt: { host: 127.0.0.1, port: {{broker.Port}}, topic_prefix: e2e, stats_interval_seconds: 0.5 }
            tracking: { min_hits: 2 }
            outputs: { snapshots: {{Path.Combine(folder, "snapshots")}}, recordings: {{Path.Combine(folder, "clips")}} }
            metrics: { port: {{httpPort}} }
            """, "e2e.yaml");

        using var stop = new CancellationTokenSource();
        var service = Task.Run(() => ServiceHost.RunAsync(options, stop.Token));

        var created = await recorder.WaitForAsync(m => m.Topic == "e2e/events" && m.Json.GetProperty("type").GetString() == "new", Patience, "new event");
        var ev = created.Json;
        string id = ev.GetProperty("id").GetString()!;
        Assert.Equal(("door", "person"), (ev.GetProperty("camera").GetString(), ev.GetProperty("label").GetString()));
        Assert.Equal([80f, 60f, 120f, 100f], ev.GetProperty("box").EnumerateArray().Select(v => v.GetSingle()));
        Assert.Equal(["mat"], ev.GetProperty("current_zones").EnumerateArray().Select(v => v.GetString()));
        var entered = await recorder.WaitForAsync(m => m.Topic == "e2e/door/zones/mat", Patience, "zone entered");
        Assert.Equal(("entered", id), (entered.Json.GetProperty("type").GetString(), entered.Json.GetProperty("id").GetString()));
        await recorder.WaitForAsync(m => m.Topic == "e2e/door/person" && m.Payload == "1", Patience, "person count 1");

        // The door clip ends (no loop): the camera is over, its object's event ends and it leaves the zone.
        var ended = await recorder.WaitForAsync(m => m.Topic == "e2e/events" && m.Json.GetProperty("type").GetString() == "end", Patience, "end event");
        Assert.Equal(id, ended.Json.GetProperty("id").GetString());
        Assert.True(ended.Json.GetProperty("end_time").GetDateTimeOffset() >= ended.Json.GetProperty("start_time").GetDateTimeOffset());
        await recorder.WaitForAsync(m => m.Topic == "e2e/door/zones/mat" && m.Payload.Contains("\"left\""), Patience, "zone left");
        await recorder.WaitForAsync(m => m.Topic == "e2e/door/person" && m.Payload == "0", Patience, "person count 0");
        Assert.Empty(recorder.On("e2e/door/zones/sky"));
        Assert.True(File.Exists(ended.Json.GetProperty("snapshot").GetString()), "the event's snapshot was written");
        // The camera had an object from its second frame to its end: one annotated clip of those frames.
        string recording = Assert.Single(Directory.GetFiles(Path.Combine(folder, "clips", "door"), "*.mp4"));
        using (var clip = new OpenCvSharp.VideoCapture(recording))
            Assert.InRange(clip.Get(OpenCvSharp.VideoCaptureProperties.FrameCount), 27, 29);

        // Per-frame detections carry the tracked object; the yard camera (cars only) reports nothing but keeps going.
        var detections = recorder.On("e2e/door/detections").ToList();
        Assert.InRange(detections.Count, 1, 30);   // telemetry of frames processed before the broker connection is dropped
        Assert.Contains(detections, m => m.Json.GetProperty("objects").EnumerateArray().Any(o => o.GetProperty("id").GetString() == id));
        Assert.DoesNotContain(recorder.On("e2e/events"), m => m.Json.GetProperty("camera").GetString() == "yard");
        var stats = await recorder.WaitForAsync(m => m.Topic == "e2e/stats" && m.Json.GetProperty("cameras").GetProperty("yard").GetProperty("processed").GetInt64() > 20, Patience, "stats");
        Assert.Equal("ended", stats.Json.GetProperty("cameras").GetProperty("door").GetProperty("state").GetString());
        Assert.Equal(30, stats.Json.GetProperty("cameras").GetProperty("door").GetProperty("processed").GetInt64());

        using (var http = new HttpClient())
        {
            var health = await http.GetAsync($"http://127.0.0.1:{httpPort}/healthz");
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            string metrics = await http.GetStringAsync($"http://127.0.0.1:{httpPort}/metrics");
            Assert.Contains("moedetect_camera_frames_processed_total{camera=\"door\"} 30", metrics);
            Assert.Contains("moedetect_camera_online{camera=\"yard\"} 1", metrics);
            Assert.Contains("moedetect_stage_latency_seconds_bucket{stage=\"inference\"", metrics);
            Assert.Contains("moedetect_mqtt_queue_depth", metrics);
            Assert.Contains("moedetect_events_total{camera=\"door\",type=\"new\"} 1", metrics);
        }

        var shutdown = Stopwatch.StartNew();
        stop.Cancel();
        Assert.Equal(0, await service);
        output.WriteLine($"graceful shutdown took {shutdown.ElapsedMilliseconds} ms");
        // The broker acknowledged these before the service returned; they reach the subscriber a moment later.
        await recorder.WaitForAsync(m => m is { Topic: "e2e/available", Payload: "offline" }, Patience, "service offline");
        await recorder.WaitForAsync(m => m is { Topic: "e2e/yard/available", Payload: "offline" }, Patience, "yard offline");
        Assert.Equal("offline", recorder.On("e2e/available").Last().Payload);
        Assert.Equal("offline", recorder.On("e2e/yard/available").Last().Payload);
    }

    [SkippableFact]
    public async Task The_default_model_follows_real_people_across_a_real_video()
    {
        Skip.If(MosquittoBroker.Missing is not null, MosquittoBroker.Missing);
        Skip.If(TestPaths.SharedMissing is not null, TestPaths.SharedMissing);
        Skip.IfNot(File.Exists(TestPaths.DefaultModel), $"the default model {TestPaths.DefaultModel} is not in models/ yet");
        string folder = TestPaths.NewTempFolder();
        using var broker = MosquittoBroker.Start(folder);
        await using var recorder = await MqttRecorder.SubscribeAsync(broker.Port, "real/#");
        // People cross the room one at a time: each crossing is one object from "new" to "end".
        var options = new ServiceOptions
        {
            Cameras =
            [
                new CameraOptions
                {
                    Name = "room", Source = TestPaths.SharedVideo("one-by-one-person-detection.mp4"), Loop = true,
                    FpsLimit = 5, Labels = ["person"], Confidence = 0.4,
                },
            ],
            Model = new ModelOptions { Path = TestPaths.DefaultModel },
            Mqtt = new MqttOptions { Host = "127.0.0.1", Port = broker.Port, TopicPrefix = "real" },
            Metrics = new MetricsOptions { Port = 0 },
        };
        using var stop = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        var service = Task.Run(() => ServiceHost.RunAsync(options, stop.Token));

        var created = await recorder.WaitForAsync(m => m.Topic == "real/events" && m.Json.GetProperty("type").GetString() == "new", TimeSpan.FromSeconds(90), "a person");
        string id = created.Json.GetProperty("id").GetString()!;
        Assert.Equal("person", created.Json.GetProperty("label").GetString());
        var ended = await recorder.WaitForAsync(m => m.Topic == "real/events" && m.Json.GetProperty("type").GetString() == "end"
                                                     && m.Json.GetProperty("id").GetString() == id, TimeSpan.FromSeconds(90), "that person's end");
        output.WriteLine($"person {id}: new at {created.At.TotalSeconds:F1} s, end at {ended.At.TotalSeconds:F1} s, top score {ended.Json.GetProperty("top_score")}");
        // While it was seen, the per-frame messages carried that one id.
        var frames = recorder.On("real/room/detections").Where(m => m.At >= created.At && m.At <= ended.At).ToList();
        Assert.Contains(frames, m => m.Json.GetProperty("objects").EnumerateArray().Any(o => o.GetProperty("id").GetString() == id));
        stop.Cancel();
        Assert.Equal(0, await service);
        output.WriteLine($"ran {clock.Elapsed.TotalSeconds:F0} s");
    }

    [BrokerFact]
    public async Task A_config_naming_labels_the_model_lacks_is_refused_before_starting()
    {
        string folder = TestPaths.NewTempFolder();
        string model = TinyDetectorGraphs.Write(folder, "m.onnx", [1, 3, 64, 64], "output0",
            TinyDetectorGraphs.YoloV8Output(2, 4), [1, 6, 4], new Dictionary<string, string> { ["names"] = "{0: 'person', 1: 'car'}" });
        var options = new ServiceOptions
        {
            Cameras = [new CameraOptions { Name = "a", Source = "0", Labels = ["persn"], Zones = [new ZoneOptions { Name = "z", Points = [new(0, 0), new(1, 0), new(1, 1)], Labels = ["dog"] }] }],
            Model = new ModelOptions { Path = model },
        };
        var error = await Assert.ThrowsAsync<ConfigException>(() => ServiceHost.RunAsync(options, CancellationToken.None));
        Assert.Equal(["cameras[0].labels", "cameras[0].zones[0].labels"], error.Problems.Select(p => p.Path));
        Assert.Contains("person, car", error.Message);
    }
}
