using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using MoeDetect.Service.Cameras;
using MoeDetect.Service.Configuration;
using MoeDetect.Service.Health;
using MoeDetect.Service.Mqtt;
using MoeDetect.Tests.Service.Fixtures;
using MoeDetect.Tests.Support;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Service;

/// <summary>Camera decode workers on real encoded clips: looping, frame policies, losing and regaining the source.</summary>
public sealed class CameraWorkerTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private static readonly ReconnectOptions FastReconnect = new() { InitialSeconds = 0.2, MaxSeconds = 1 };

    private static CameraWorker Worker(CameraFeed feed) =>
        new(feed, FastReconnect, new ServiceMetrics([feed]), NullLogger<CameraWorker>.Instance);

    /// <summary>Takes frames as a detector would, until stopped.</summary>
    private static Task Consume(CameraFeed feed, CancellationToken stop) => Task.Run(async () =>
    {
        try
        {
            while (await feed.Frames.WaitToReadAsync(stop))
                while (feed.Frames.TryRead(out var frame))
                {
                    frame.Dispose();
                    feed.CountProcessed();
                }
        }
        catch (OperationCanceledException) { }
    });

    [Fact]
    public async Task A_looping_file_stands_in_for_a_camera_and_loses_no_frame()
    {
        string clip = TestVideos.Write(Path.Combine(TestPaths.NewTempFolder(), "loop.mp4"), frames: 20);
        var feed = new CameraFeed(new CameraOptions { Name = "loop", Source = clip, Loop = true }, live: false);
        using var stop = new CancellationTokenSource();
        var consumer = Consume(feed, stop.Token);
        using var worker = Worker(feed);
        await worker.StartAsync(CancellationToken.None);

        await Eventually.True(() => feed.Processed >= 70, "three and a half passes over the clip");
        await worker.StopAsync(CancellationToken.None);
        stop.Cancel();
        await consumer;

        Assert.Equal(0, feed.Dropped);   // a file waits for the detector instead of dropping
        Assert.Equal(0, feed.Status.Reconnects);
        Assert.InRange(feed.Decoded - feed.Processed, 0, 3);   // at most the queue's content was left when stopping
        Assert.Equal(CameraState.Stopped, feed.Status.State);
    }

    [Fact]
    public async Task A_live_source_keeps_only_the_newest_frame_and_counts_the_rest_as_dropped()
    {
        string clip = TestVideos.Write(Path.Combine(TestPaths.NewTempFolder(), "live.mp4"), frames: 60);
        // Treated as live (as a stream would be): nobody takes frames, so all but the newest must go.
        var feed = new CameraFeed(new CameraOptions { Name = "live", Source = clip }, live: true);
        using var worker = Worker(feed);
        await worker.StartAsync(CancellationToken.None);
        await Eventually.True(() => feed.Status.State == CameraState.Ended, "the clip to play to its end");
        await worker.StopAsync(CancellationToken.None);

        Assert.Equal(60, feed.Decoded);
        Assert.Equal(1, feed.Frames.Count);
        Assert.Equal(59, feed.Dropped);
    }

    [Fact]
    public async Task The_fps_limit_skips_frames_by_their_timestamps()
    {
        string clip = TestVideos.Write(Path.Combine(TestPaths.NewTempFolder(), "fps.mp4"), frames: 50, fps: 25);
        var feed = new CameraFeed(new CameraOptions { Name = "fps", Source = clip, FpsLimit = 5 }, live: false);
        using var stop = new CancellationTokenSource();
        var consumer = Consume(feed, stop.Token);
        using var worker = Worker(feed);
        await worker.StartAsync(CancellationToken.None);
        await Eventually.True(() => feed.Status.State == CameraState.Ended, "the clip to play to its end");
        stop.Cancel();
        await consumer;

        Assert.Equal(50, feed.Decoded);
        Assert.Equal(10, feed.Processed);   // 2 s of video at 5 fps
        Assert.Equal(40, feed.Skipped);
    }

    [BrokerFact]
    public async Task A_camera_whose_source_disappears_goes_offline_and_comes_back_with_its_gap_reported()
    {
        string folder = TestPaths.NewTempFolder();
        string clip = TestVideos.Write(Path.Combine(folder, "door.mp4"), frames: 10);
        string away = Path.Combine(folder, "moved-away.mp4");
        using var broker = MosquittoBroker.Start(folder);
        await using var recorder = await MqttRecorder.SubscribeAsync(broker.Port, "cams/#");
        var feed = new CameraFeed(new CameraOptions { Name = "door", Source = clip, Loop = true }, live: false);
        var metrics = new ServiceMetrics([feed]);
        using var publisher = new MqttPublisher(new MqttOptions { Host = "127.0.0.1", Port = broker.Port, TopicPrefix = "cams" },
            FastReconnect, metrics, NullLogger<MqttPublisher>.Instance);
        feed.StatusChanged += publisher.PublishCameraStatus;
        await publisher.StartAsync(CancellationToken.None);
        using var stop = new CancellationTokenSource();
        var consumer = Consume(feed, stop.Token);
        using var worker = new CameraWorker(feed, FastReconnect, metrics, NullLogger<CameraWorker>.Instance);
        await worker.StartAsync(CancellationToken.None);
        await recorder.WaitForAsync(m => m is { Topic: "cams/door/available", Payload: "online" }, Patience, "camera online");

        File.Move(clip, away);   // the camera's source disappears: the next pass cannot open it
        await recorder.WaitForAsync(m => m is { Topic: "cams/door/available", Payload: "offline" }, Patience, "camera offline");
        Assert.Equal(CameraState.Offline, feed.Status.State);
        Assert.Contains("not found", feed.Status.Error);
        await Task.Delay(1500);
        long decodedWhileAway = feed.Decoded;
        var back = Stopwatch.StartNew();
        File.Move(away, clip);

        var state = await recorder.WaitForAsync(m => m.Topic == "cams/door/state" && m.Json.GetProperty("state").GetString() == "online"
                                                     && m.Json.GetProperty("reconnects").GetInt32() == 1, Patience, "camera back online");
        output.WriteLine($"camera back {back.ElapsedMilliseconds} ms after its source returned; gap reported: {state.Json.GetProperty("last_gap_seconds")} s");
        Assert.InRange(state.Json.GetProperty("last_gap_seconds").GetDouble(), 1.4, 10);
        await using (var late = await MqttRecorder.SubscribeAsync(broker.Port, "cams/door/state"))
        {
            var retained = await late.WaitForAsync(_ => true, Patience, "retained camera state");
            Assert.True(retained.Retain);
            Assert.Equal("online", retained.Json.GetProperty("state").GetString());
        }
        await Eventually.True(() => feed.Decoded > decodedWhileAway + 10, "frames to flow again");

        await worker.StopAsync(CancellationToken.None);
        stop.Cancel();
        await consumer;
        await publisher.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_live_stream_that_goes_down_is_retried_until_it_returns()
    {
        string clip = TestVideos.Write(Path.Combine(TestPaths.NewTempFolder(), "served.avi"), frames: 40, fourcc: "MJPG");
        int port = MosquittoBroker.FreePort();
        var server = ClipServer.Start(clip, port);
        var feed = new CameraFeed(new CameraOptions { Name = "street", Source = $"http://127.0.0.1:{port}/live.avi" }, live: true);
        var states = new System.Collections.Concurrent.ConcurrentQueue<CameraStatus>();
        feed.StatusChanged += states.Enqueue;
        using var stop = new CancellationTokenSource();
        var consumer = Consume(feed, stop.Token);
        using var worker = Worker(feed);
        await worker.StartAsync(CancellationToken.None);
        await Eventually.True(() => feed.Processed > 0, "frames from the stream");

        server.Dispose();   // the camera goes away: the stream ends and reconnecting is refused
        await Eventually.True(() => feed.Status is { State: CameraState.Offline, Error: { } e } && e.Contains("cannot connect"), "the camera to be offline");
        await Task.Delay(1000);
        long decodedWhileDown = feed.Decoded;
        int statesWhileDown = states.Count;
        var back = Stopwatch.StartNew();
        using (ClipServer.Start(clip, port))
        {
            await Eventually.True(() => feed.Decoded > decodedWhileDown && feed.Status.State == CameraState.Online, "the camera to come back");
            // The short served clip may end and reconnect again before this look; the outage under test is the first return.
            var firstReturn = states.Skip(statesWhileDown).First(s => s.State == CameraState.Online);
            output.WriteLine($"stream camera back {back.ElapsedMilliseconds} ms after its server returned; gap {firstReturn.LastGapSeconds:F2} s, " +
                             $"{firstReturn.Reconnects} reconnects, states: {string.Join(" ", states.Select(s => s.State))}");
            Assert.True(firstReturn.LastGapSeconds >= 1, $"gap {firstReturn.LastGapSeconds}");
            Assert.True(firstReturn.Reconnects >= 1);
        }
        await worker.StopAsync(CancellationToken.None);
        stop.Cancel();
        await consumer;
    }
}
