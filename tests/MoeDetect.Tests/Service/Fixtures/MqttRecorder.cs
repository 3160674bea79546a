using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using MQTTnet;

namespace MoeDetect.Tests.Service.Fixtures;

public sealed record ReceivedMessage(string Topic, string Payload, bool Retain, TimeSpan At)
{
    public JsonElement Json => JsonDocument.Parse(Payload).RootElement;
}

/// <summary>A real MQTTnet subscriber that records everything under a topic filter, for tests to wait on.</summary>
public sealed class MqttRecorder : IAsyncDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    private readonly ConcurrentQueue<ReceivedMessage> _messages = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public IReadOnlyList<ReceivedMessage> Messages => _messages.ToList();

    public static async Task<MqttRecorder> SubscribeAsync(int port, string filter)
    {
        var recorder = new MqttRecorder();
        recorder._client.ApplicationMessageReceivedAsync += e =>
        {
            recorder._messages.Enqueue(new ReceivedMessage(e.ApplicationMessage.Topic, e.ApplicationMessage.ConvertPayloadToString(),
                e.ApplicationMessage.Retain, recorder._clock.Elapsed));
            return Task.CompletedTask;
        };
        await recorder._client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port)
            .WithClientId("recorder-" + Guid.NewGuid().ToString("N")[..8]).Build());
        await recorder._client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(filter, MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce).Build());
        return recorder;
    }

    public IEnumerable<ReceivedMessage> On(string topic) => Messages.Where(m => m.Topic == topic);

    /// <summary>Waits until a message matching the predicate has arrived; fails the test with what did arrive.</summary>
    public async Task<ReceivedMessage> WaitForAsync(Func<ReceivedMessage, bool> predicate, TimeSpan timeout, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            var found = _messages.FirstOrDefault(predicate);
            if (found is not null) return found;
            await Task.Delay(25);
        }
        var topics = string.Join(", ", _messages.GroupBy(m => m.Topic).Select(g => $"{g.Key}×{g.Count()}"));
        throw new TimeoutException($"no message '{what}' within {timeout.TotalSeconds} s; received: {topics}");
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected) await _client.DisconnectAsync();
        _client.Dispose();
    }
}
