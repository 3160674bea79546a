using System.Diagnostics;
using System.Text.RegularExpressions;
using OpenCvSharp;
using MoeDetect.Pipeline.Frames;

namespace MoeDetect.Pipeline.Sources;

/// <summary>Network streams (RTSP, HTTP, RTMP, …) decoded by an <c>ffmpeg</c> process into raw BGR frames on a pipe.
/// OpenCvSharp's bundled FFmpeg is built without network protocols, so streams need the system's ffmpeg (Debian
/// package <c>ffmpeg</c>); decoding in its own process also keeps the detector's cores free. The frame size is read
/// from ffmpeg's description of its output stream; timestamps are milliseconds since the first frame arrived.</summary>
public sealed partial class FfmpegStreamSource : IFrameSource
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(15);
    /// <summary>A live stream that delivers nothing for this long is treated as dropped (callers reconnect).</summary>
    private static readonly TimeSpan StallTimeout = TimeSpan.FromSeconds(10);
    private readonly Process _ffmpeg;
    private readonly Stream _frames;
    private readonly int _width, _height;
    private readonly List<string> _log = [];

    public FfmpegStreamSource(SourceSpec spec)
    {
        Spec = spec;
        var start = new ProcessStartInfo("ffmpeg") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in Arguments(spec.Location)) start.ArgumentList.Add(a);
        try
        {
            _ffmpeg = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new SourceException($"cannot read stream {spec.Location}: network streams need the ffmpeg program (apt-get install ffmpeg)");
        }
        _frames = _ffmpeg.StandardOutput.BaseStream;
        var size = WaitForOutputSize();
        if (size is null)
        {
            Kill();
            string reason = _log.LastOrDefault(l => l.Contains(spec.Location) || l.Contains("rror") || l.Contains("refused") || l.Contains("timed out"))
                ?? "no video stream within " + ConnectTimeout.TotalSeconds + " s";
            throw new SourceException($"cannot connect to stream {spec.Location}: {reason.Trim()} (check the URL, credentials and that the camera is reachable)");
        }
        (_width, _height) = size.Value;
        _ = Task.Run(DrainLog);   // keeps ffmpeg from blocking on a full stderr pipe
    }

    public SourceSpec Spec { get; }
    public long? FrameCount => null;
    public double? FramesPerSecond { get; private set; }

    private static IEnumerable<string> Arguments(string url)
    {
        yield return "-hide_banner";
        yield return "-nostdin";
        if (url.StartsWith("rtsp", StringComparison.OrdinalIgnoreCase))
        {
            yield return "-rtsp_transport";   // TCP survives lossy networks and NAT better than UDP
            yield return "tcp";
        }
        foreach (var a in new[] { "-i", url, "-an", "-sn", "-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1" }) yield return a;
    }

    /// <summary>Reads ffmpeg's log until it describes its raw output stream ("Video: rawvideo …, 1280x720").</summary>
    private (int, int)? WaitForOutputSize()
    {
        var found = Task.Run(() =>
        {
            bool inOutput = false;
            while (_ffmpeg.StandardError.ReadLine() is { } line)
            {
                lock (_log) _log.Add(line);
                if (line.StartsWith("Input #")) continue;
                var fps = FpsPattern().Match(line);
                if (!inOutput && fps.Success) FramesPerSecond = double.Parse(fps.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
                if (line.StartsWith("Output #")) inOutput = true;
                var size = SizePattern().Match(line);
                if (inOutput && line.Contains("Video: rawvideo") && size.Success)
                    return ((int, int)?)(int.Parse(size.Groups[1].Value), int.Parse(size.Groups[2].Value));
            }
            return null;
        });
        return found.Wait(ConnectTimeout) ? found.Result : null;
    }

    private void DrainLog()
    {
        try
        {
            while (_ffmpeg.StandardError.ReadLine() is { } line)
                lock (_log) { _log.Add(line); if (_log.Count > 50) _log.RemoveAt(0); }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException) { }
    }

    public IEnumerable<Frame> ReadFrames(CancellationToken cancellation)
    {
        var buffer = new byte[_width * _height * 3];
        var clock = Stopwatch.StartNew();
        long index = 0;
        while (!cancellation.IsCancellationRequested && ReadExactly(buffer, cancellation))
        {
            var image = new Mat(_height, _width, MatType.CV_8UC3);
            System.Runtime.InteropServices.Marshal.Copy(buffer, 0, image.Data, buffer.Length);
            yield return new Frame(image, Spec.Name, index++, clock.Elapsed.TotalMilliseconds);
        }
        if (index == 0 && !cancellation.IsCancellationRequested)
            throw new SourceException($"stream {Spec.Location} delivered no frames");
        // Otherwise the stream ended, stalled or dropped: live callers reconnect.
    }

    private bool ReadExactly(byte[] buffer, CancellationToken cancellation)
    {
        int filled = 0;
        while (filled < buffer.Length)
        {
            using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            stall.CancelAfter(StallTimeout);
            try
            {
                int n = _frames.ReadAsync(buffer.AsMemory(filled), stall.Token).AsTask().GetAwaiter().GetResult();
                if (n == 0) return false;
                filled += n;
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }
        return true;
    }

    private void Kill()
    {
        try { if (!_ffmpeg.HasExited) _ffmpeg.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { }
    }

    public void Dispose()
    {
        Kill();
        _ffmpeg.WaitForExit(2000);
        _ffmpeg.Dispose();
    }

    [GeneratedRegex(@"\b(\d{2,5})x(\d{2,5})\b")]
    private static partial Regex SizePattern();

    [GeneratedRegex(@"Video:.*?, ([\d.]+) fps")]
    private static partial Regex FpsPattern();
}
