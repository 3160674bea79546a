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

/// <summary>The service's MQTT side against a real mosquitto, observed by a real MQTTnet subscriber.</summary>
public sealed class MqttPublisherTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);
    private static readonly ReconnectOptions FastReconnect = new() { InitialSeconds = 0.2, MaxSeconds = 1 };

    private static MqttPublisher Publisher(int port, string prefix, int queueSize = 1000) =>
        new(new MqttOptions { Host = "127.0.0.1", Port = port, TopicPrefix = prefix, ClientId = prefix, QueueSize = queueSize, KeepAliveSeconds = 5 },
            FastReconnect, new ServiceMetrics([]), NullLogger<MqttPublisher>.Instance);

    [BrokerFact]
    public async Task Availability_is_retained_and_the_last_will_says_offline_when_the_service_dies()
    {
        using var broker = MosquittoBroker.Start(TestPaths.NewTempFolder());
        using var relay = new TcpRelay(broker.Port);
        await using var recorder = await MqttRecorder.SubscribeAsync(broker.Port, "lwt/#");
        using var publisher = Publisher(relay.Port, "lwt");
        await publisher.StartAsync(CancellationToken.None);

        await recorder.WaitForAsync(m => m is { Topic: "lwt/available", Payload: "online" }, Patience, "online");
        await using (var late = await MqttRecorder.SubscribeAsync(broker.Port, "lwt/available"))
            Assert.True((await late.WaitForAsync(m => m.Payload == "online", Patience, "retained online")).Retain);

        // The connection dies without an MQTT DISCONNECT, as when the process is killed: the broker sends the will.
        var cut = Stopwatch.StartNew();
        relay.CutAll();
        await recorder.WaitForAsync(m => m is { Topic: "lwt/available", Payload: "offline" }, Patience, "last will");
        output.WriteLine($"last will received {cut.ElapsedMilliseconds} ms after the connection was cut");
        await using (var late = await MqttRecorder.SubscribeAsync(broker.Port, "lwt/available"))
        {
            var retained = await late.WaitForAsync(_ => true, Patience, "retained availability");
            Assert.True(retained.Retain);
        }

        // The service reconnects by itself and says online again.
        var offlineAt = recorder.On("lwt/available").Last(m => m.Payload == "offline").At;
        await recorder.WaitForAsync(m => m is { Topic: "lwt/available", Payload: "online" } && m.At > offlineAt, Patience, "online again");
        output.WriteLine($"online again {cut.ElapsedMilliseconds} ms after the cut");

        await publisher.StopAsync(CancellationToken.None);
        var onlineAgain = recorder.On("lwt/available").Last(m => m.Payload == "online").At;
        await recorder.WaitForAsync(m => m is { Topic: "lwt/available", Payload: "offline" } && m.At > onlineAgain, Patience, "offline on shutdown");
    }

    [BrokerFact]
    public async Task Events_queued_while_the_broker_is_down_are_delivered_after_it_restarts()
    {
        using var broker = MosquittoBroker.Start(TestPaths.NewTempFolder());
        using var relay = new TcpRelay(broker.Port);
        using var publisher = Publisher(relay.Port, "outage", queueSize: 3);
        await publisher.StartAsync(CancellationToken.None);
        await using (var first = await MqttRecorder.SubscribeAsync(broker.Port, "outage/#"))
            await first.WaitForAsync(m => m.Topic == "outage/available" && m.Payload == "online", Patience, "online");
        publisher.PublishCameraStatus(new CameraStatus("gate", CameraState.Online, DateTimeOffset.UtcNow, null, null, 0));
        await Eventually.True(() => publisher.QueueDepth == 0, "the camera state to be delivered");

        broker.Stop();
        await Eventually.True(() => !publisher.IsConnected, "the publisher to notice the broker is gone");
        relay.Refusing = true;   // keeps the publisher out until the subscriber below is listening
        for (int i = 1; i <= 5; i++) publisher.PublishDurable(publisher.Topics.Events, new { type = "new", n = i });
        publisher.PublishTelemetry(publisher.Topics.Detections("gate"), new { n = 99 });
        Assert.Equal(3, publisher.QueueDepth);
        Assert.Equal(2, publisher.DroppedOldest);

        broker.Start();
        await using var recorder = await MqttRecorder.SubscribeAsync(broker.Port, "outage/#");
        var back = Stopwatch.StartNew();
        relay.Refusing = false;
        await recorder.WaitForAsync(m => m.Topic == "outage/events" && m.Json.GetProperty("n").GetInt32() == 5, Patience, "the last queued event");
        output.WriteLine($"queued events delivered {back.ElapsedMilliseconds} ms after the broker became reachable");

        // The oldest two were dropped; the rest arrive once each, in order. Telemetry was not kept.
        Assert.Equal([3, 4, 5], recorder.On("outage/events").Select(m => m.Json.GetProperty("n").GetInt32()));
        Assert.Empty(recorder.On("outage/gate/detections"));
        // The restarted broker had forgotten the retained state; the service sent it again.
        Assert.Contains(recorder.On("outage/gate/available"), m => m.Payload == "online");
        Assert.Equal(0, publisher.QueueDepth);
        await publisher.StopAsync(CancellationToken.None);
    }
}
