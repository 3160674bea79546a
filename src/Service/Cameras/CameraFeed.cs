using System.Threading.Channels;
using MoeDetect.Pipeline.Frames;
using MoeDetect.Service.Configuration;

namespace MoeDetect.Service.Cameras;

public enum CameraState { Starting, Online, Offline, Ended, Stopped }

/// <summary>A frame as the service sees it: the decoded picture and the wall-clock time it was decoded (file
/// timestamps restart on every loop, so events use this instead).</summary>
public sealed record CapturedFrame(Frame Frame, DateTimeOffset CapturedAt) : IDisposable
{
    public void Dispose() => Frame.Dispose();
}

/// <summary>Where the camera's state stands, as published: since when, the last error, and how long the last
/// outage lasted once the camera is back.</summary>
public sealed record CameraStatus(string Camera, CameraState State, DateTimeOffset Since, string? Error, double? LastGapSeconds, long Reconnects);

/// <summary>One camera's hand-over point between its decode worker and the shared detector, with its counters.
/// Live sources keep only the newest frames (the queue drops the oldest, so lag cannot grow); files wait for the
/// detector instead, so no frame of a file is lost.</summary>
public sealed class CameraFeed
{
    private readonly Channel<CapturedFrame> _channel;
    private readonly object _stateLock = new();
    private readonly SemaphoreSlim? _arrivals;
    private long _decoded, _processed, _dropped, _skipped;

    /// <param name="arrivals">Released once per frame handed over, so that one consumer can wait for any camera.</param>
    public CameraFeed(CameraOptions options, bool live, SemaphoreSlim? arrivals = null, int capacity = 2)
    {
        Options = options;
        _arrivals = arrivals;
        IsLive = live;
        var channelOptions = new BoundedChannelOptions(live ? 1 : capacity)
        {
            FullMode = live ? BoundedChannelFullMode.DropOldest : BoundedChannelFullMode.Wait,
            SingleReader = true,
            SingleWriter = true,
        };
        _channel = Channel.CreateBounded<CapturedFrame>(channelOptions, dropped =>
        {
            dropped.Dispose();
            Interlocked.Increment(ref _dropped);
        });
        Status = new CameraStatus(options.Name, CameraState.Starting, DateTimeOffset.UtcNow, null, null, 0);
        ProcessedRate = new RateMeter();
    }

    public CameraOptions Options { get; }
    public string Name => Options.Name;
    public bool IsLive { get; }
    public ChannelReader<CapturedFrame> Frames => _channel.Reader;
    public long Decoded => Interlocked.Read(ref _decoded);
    public long Processed => Interlocked.Read(ref _processed);
    /// <summary>Frames thrown away because a newer one arrived before the detector was free.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);
    /// <summary>Frames left out on purpose by the camera's fps limit.</summary>
    public long Skipped => Interlocked.Read(ref _skipped);
    public RateMeter ProcessedRate { get; }
    public CameraStatus Status { get; private set; }

    /// <summary>Raised on every state change (online, offline with the error, ended, stopped).</summary>
    public event Action<CameraStatus>? StatusChanged;

    public void CountDecoded() => Interlocked.Increment(ref _decoded);
    public void CountSkipped() => Interlocked.Increment(ref _skipped);

    public void CountProcessed()
    {
        Interlocked.Increment(ref _processed);
        ProcessedRate.Mark();
    }

    /// <summary>Hands a frame to the detector: waits for room when the source is a file, replaces the oldest
    /// queued frame when it is live. Returns false when the service is stopping (the frame is disposed).</summary>
    public bool Offer(CapturedFrame frame, CancellationToken cancellation)
    {
        try
        {
            if (!_channel.Writer.TryWrite(frame))
                _channel.Writer.WriteAsync(frame, cancellation).AsTask().GetAwaiter().GetResult();
            _arrivals?.Release();
            return true;
        }
        catch (OperationCanceledException)
        {
            frame.Dispose();
            return false;
        }
    }

    /// <summary>No more frames will come (file played without loop, or service stopping).</summary>
    public void Complete() => _channel.Writer.TryComplete();

    public void SetState(CameraState state, string? error = null)
    {
        CameraStatus changed;
        lock (_stateLock)
        {
            var now = DateTimeOffset.UtcNow;
            var previous = Status;
            if (previous.State == state && previous.Error == error) return;
            bool back = state == CameraState.Online && previous.State == CameraState.Offline;
            Status = changed = new CameraStatus(Name, state, now, error,
                back ? (now - previous.Since).TotalSeconds : previous.LastGapSeconds,
                previous.Reconnects + (back ? 1 : 0));
        }
        StatusChanged?.Invoke(changed);
    }
}
