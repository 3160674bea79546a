using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MoeDetect.Service.Cameras;
using MoeDetect.Service.Configuration;
using MoeDetect.Service.Health;
using MQTTnet;
using MQTTnet.Protocol;

namespace MoeDetect.Service.Mqtt;

/// <summary>Keeps one MQTT connection for the service and sends the outbox through it. The broker holds a Last
/// Will (<c>&lt;prefix&gt;/available</c> = offline, retained) for when the service dies without saying goodbye.
/// A lost broker is retried with backoff; on every (re)connection the service announces itself online again and
/// re-sends its retained state (a restarted broker may have forgotten it), then the queued events. On shutdown
/// it publishes offline, flushes the outbox and disconnects cleanly. Without a broker host it only counts.</summary>
public sealed class MqttPublisher : BackgroundService
{
    public static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
    private static readonly TimeSpan FlushTimeout = TimeSpan.FromSeconds(5), ShutdownRetryDelay = TimeSpan.FromMilliseconds(200);

    private readonly MqttOptions _options;
    private readonly ReconnectOptions _reconnect;
    private readonly ServiceMetrics _metrics;
    private readonly ILogger<MqttPublisher> _log;
    private readonly MqttOutbox _outbox;
    private readonly Dictionary<string, OutgoingMessage> _retained = [];
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();

    public MqttPublisher(MqttOptions options, ReconnectOptions reconnect, ServiceMetrics metrics, ILogger<MqttPublisher> log)
    {
        _options = options;
        _reconnect = reconnect;
        _metrics = metrics;
        _log = log;
        _outbox = new MqttOutbox(options.QueueSize);
        Topics = new Topics(options.TopicPrefix);
    }

    public Topics Topics { get; }
    public bool Enabled => _options.Host is not null;
    public bool IsConnected => _client.IsConnected;
    public int QueueDepth => _outbox.Count;
    public long DroppedOldest => _outbox.DroppedOldest;

    /// <summary>Queues an event or a state change: kept while the broker is away (bounded, oldest dropped first).</summary>
    public void PublishDurable(string topic, object payload, bool retain = false) =>
        Enqueue(new OutgoingMessage(topic, Serialize(payload), _options.EventQos, retain, Durable: true));

    /// <summary>Sends telemetry when connected; while the broker is away it is dropped (a newer one follows).
    /// Retained telemetry is still remembered and re-sent on reconnection.</summary>
    public void PublishTelemetry(string topic, object payload, bool retain = false) =>
        Enqueue(new OutgoingMessage(topic, Serialize(payload), _options.TelemetryQos, retain, Durable: false));

    public void PublishCameraStatus(CameraStatus status)
    {
        bool online = status.State == CameraState.Online;
        PublishDurable(Topics.CameraAvailable(status.Camera), online ? "online" : "offline", retain: true);
        PublishDurable(Topics.CameraState(status.Camera), new
        {
            state = status.State.ToString().ToLowerInvariant(),
            since = status.Since,
            error = status.Error,
            last_gap_seconds = status.LastGapSeconds,
            reconnects = status.Reconnects,
        }, retain: true);
    }

    private void Enqueue(OutgoingMessage message)
    {
        if (!Enabled) return;
        if (message.Retain)
            lock (_retained) _retained[message.Topic] = message;
        if (!message.Durable && !_client.IsConnected)
        {
            _metrics.CountMqttDropped("disconnected");
            return;
        }
        if (_outbox.Add(message)) _metrics.CountMqttDropped("queue_full");
        _metrics.SetMqttQueueDepth(_outbox.Count);
    }

    /// <summary>Plain strings go out as they are (online/offline, counts); everything else as JSON.</summary>
    private static byte[] Serialize(object payload) => payload switch
    {
        string text => Encoding.UTF8.GetBytes(text),
        int or long => Encoding.UTF8.GetBytes(payload.ToString()!),
        _ => JsonSerializer.SerializeToUtf8Bytes(payload, Json),
    };

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        if (!Enabled) return;
        var backoff = new ReconnectBackoff(_reconnect);
        while (!stopping.IsCancellationRequested)
        {
            if (!_client.IsConnected && !await TryConnectAsync(backoff, stopping)) continue;
            try
            {
                await _outbox.WaitAsync(TimeSpan.FromSeconds(1), stopping);
                await SendQueuedAsync(stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested) { }
        }
        await ShutdownAsync();
    }

    private async Task<bool> TryConnectAsync(ReconnectBackoff backoff, CancellationToken stopping)
    {
        _metrics.SetMqttConnected(false);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            await _client.ConnectAsync(ClientOptions(), timeout.Token);
            _log.LogInformation("MQTT connected to {Host}:{Port} as {ClientId}", _options.Host, _options.Port, _options.ClientId);
            backoff.Reset();
            _metrics.SetMqttConnected(true);
            await SendAsync(new OutgoingMessage(Topics.Available, "online"u8.ToArray(), _options.EventQos, true, true), stopping);
            // Straight out, not through the outbox: the retained state must not push queued events out of it.
            OutgoingMessage[] retained;
            lock (_retained) retained = _retained.Values.ToArray();
            foreach (var message in retained) await SendAsync(message, stopping);
            return true;
        }
        catch (Exception e) when (!stopping.IsCancellationRequested)
        {
            var delay = backoff.NextDelay();
            _log.LogWarning("MQTT broker {Host}:{Port} unreachable ({Error}); {Queued} messages queued; retrying in {Delay:F1} s",
                _options.Host, _options.Port, e.Message, _outbox.Count, delay.TotalSeconds);
            try { await Task.Delay(delay, stopping); } catch (OperationCanceledException) { }
            return false;
        }
        catch (Exception) when (stopping.IsCancellationRequested)
        {
            // Stopping mid-connect (a cancelled connect may surface as a communication error): ShutdownAsync goes on.
            return false;
        }
    }

    private async Task SendQueuedAsync(CancellationToken cancellation)
    {
        while (_client.IsConnected && _outbox.Peek() is { } message)
        {
            try
            {
                await SendAsync(message, cancellation);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                _log.LogWarning("MQTT publish to {Topic} failed ({Error}); it stays queued", message.Topic, e.Message);
                return;
            }
            _outbox.Delivered(message);
            _metrics.SetMqttQueueDepth(_outbox.Count);
        }
    }

    private async Task SendAsync(OutgoingMessage message, CancellationToken cancellation)
    {
        var result = await _client.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic(message.Topic)
            .WithPayload(message.Payload)
            .WithQualityOfServiceLevel((MqttQualityOfServiceLevel)message.Qos)
            .WithRetainFlag(message.Retain)
            .Build(), cancellation);
        if (!result.IsSuccess)
            throw new InvalidOperationException($"broker refused the message: {result.ReasonCode} {result.ReasonString}");
        _metrics.CountMqttPublished();
    }

    /// <summary>Announces offline, delivers what is queued (bounded by a timeout) and disconnects cleanly, so the
    /// broker does not also fire the Last Will. A failed connect or publish is retried until the timeout: the client
    /// may still be tearing down a connection that just dropped.</summary>
    private async Task ShutdownAsync()
    {
        PublishDurable(Topics.Available, "offline", retain: true);
        using var flush = new CancellationTokenSource(FlushTimeout);
        string? lastError = null;
        while (_outbox.Count > 0 && !flush.IsCancellationRequested)
        {
            try
            {
                if (!_client.IsConnected) await _client.ConnectAsync(ClientOptions(), flush.Token);
                await SendQueuedAsync(flush.Token);
            }
            catch (Exception e)
            {
                lastError = e.Message;
                try { await Task.Delay(ShutdownRetryDelay, flush.Token); } catch (OperationCanceledException) { }
            }
        }
        if (_outbox.Count > 0)
            _log.LogWarning("MQTT: {Count} messages not delivered at shutdown ({Error})", _outbox.Count, lastError ?? "timed out");
        try
        {
            if (_client.IsConnected)
                await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), CancellationToken.None);
        }
        catch (Exception e)
        {
            _log.LogWarning("MQTT: disconnecting at shutdown failed ({Error})", e.Message);
        }
        _metrics.SetMqttConnected(false);
    }

    private MqttClientOptions ClientOptions()
    {
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(_options.Host, _options.Port)
            .WithClientId(_options.ClientId)
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(_options.KeepAliveSeconds))
            .WithCleanSession()
            .WithTimeout(TimeSpan.FromSeconds(10))
            .WithWillTopic(Topics.Available)
            .WithWillPayload("offline")
            .WithWillRetain()
            .WithWillQualityOfServiceLevel((MqttQualityOfServiceLevel)_options.EventQos);
        if (_options.Username is not null)
            builder.WithCredentials(_options.Username, _options.Password);
        if (_options.Tls)
            builder.WithTlsOptions(tls =>
            {
                tls.UseTls();
                if (_options.TlsAllowUntrusted)
                    tls.WithCertificateValidationHandler(_ => true);
            });
        return builder.Build();
    }

    public override void Dispose()
    {
        _client.Dispose();
        base.Dispose();
    }
}
