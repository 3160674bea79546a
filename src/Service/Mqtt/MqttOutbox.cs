namespace MoeDetect.Service.Mqtt;

/// <summary>A message for the broker. Durable ones (events, state) wait in the outbox while the broker is away;
/// telemetry (detections, counts, stats) is dropped instead, since a newer one will follow.</summary>
public sealed record OutgoingMessage(string Topic, byte[] Payload, int Qos, bool Retain, bool Durable);

/// <summary>The bounded queue between the service and the broker: when full, the oldest message is dropped (and
/// counted) to make room, so a long outage costs the oldest events, never memory or the newest events.</summary>
public sealed class MqttOutbox(int capacity)
{
    private readonly LinkedList<OutgoingMessage> _queue = new();
    private readonly SemaphoreSlim _signal = new(0);
    private long _droppedOldest;

    public int Count
    {
        get { lock (_queue) return _queue.Count; }
    }

    public long DroppedOldest => Interlocked.Read(ref _droppedOldest);

    /// <summary>Adds a message; returns true when the oldest had to go to make room.</summary>
    public bool Add(OutgoingMessage message)
    {
        bool dropped = false;
        lock (_queue)
        {
            if (_queue.Count >= capacity)
            {
                _queue.RemoveFirst();
                Interlocked.Increment(ref _droppedOldest);
                dropped = true;
            }
            _queue.AddLast(message);
        }
        _signal.Release();
        return dropped;
    }

    public OutgoingMessage? Peek()
    {
        lock (_queue) return _queue.First?.Value;
    }

    /// <summary>Removes the message once the broker has it, unless it was already dropped to make room.</summary>
    public void Delivered(OutgoingMessage message)
    {
        lock (_queue)
            if (ReferenceEquals(_queue.First?.Value, message)) _queue.RemoveFirst();
    }

    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellation) => _signal.WaitAsync(timeout, cancellation);
}
