using System.Net;
using System.Net.Sockets;
using MoeDetect.Pipeline.Offline;
using MoeDetect.Pipeline.Sources;
using MoeDetect.Tests.Support;

namespace MoeDetect.Tests.Pipeline;

/// <summary>An HTTP URL goes through the same source code path as a file: a real clip served over loopback HTTP.</summary>
public class StreamInputTests
{
    private readonly string _folder = TestPaths.NewTempFolder();

    [Fact]
    public async Task Http_url_is_decoded_like_a_file()
    {
        var clip = TestVideos.Write(Path.Combine(_folder, "served.avi"), frames: 15, fourcc: "MJPG");
        int port = FreePort();
        using var server = new HttpListener();
        server.Prefixes.Add($"http://127.0.0.1:{port}/");
        server.Start();
        var serving = Task.Run(async () =>
        {
            while (server.IsListening)
            {
                HttpListenerContext context;
                try { context = await server.GetContextAsync(); }
                catch (Exception) { return; }
                // Each request on its own: ffmpeg may open a second connection while the first is still being sent.
                _ = Task.Run(async () =>
                {
                    context.Response.ContentType = "video/x-msvideo";
                    var bytes = await File.ReadAllBytesAsync(clip);
                    context.Response.ContentLength64 = bytes.Length;
                    try { await context.Response.OutputStream.WriteAsync(bytes); context.Response.Close(); }
                    catch (Exception) { /* the reader may hang up early */ }
                });
            }
        });

        using var detector = TinyDetectorGraphs.LoadOnePersonDetector(_folder);
        var sources = InputResolver.Resolve([$"http://127.0.0.1:{port}/served.avi"]);
        Assert.Equal(SourceKind.Stream, Assert.Single(sources).Kind);

        var report = await new DetectJob(detector, new DetectJobOptions(sources, Path.Combine(_folder, "out")), new NullProgress()).RunAsync(CancellationToken.None);

        server.Stop();
        var outcome = Assert.Single(report.Inputs);
        Assert.True(outcome.Status == "ok", outcome.Error);
        Assert.Equal(15, outcome.FramesProcessed);
    }

    [Fact]
    public async Task Unreachable_stream_fails_with_a_message_naming_the_url()
    {
        int port = FreePort();   // nothing listens here
        using var detector = TinyDetectorGraphs.LoadOnePersonDetector(_folder);
        string url = $"http://127.0.0.1:{port}/live.avi";
        var report = await new DetectJob(detector, new DetectJobOptions(InputResolver.Resolve([url]), Path.Combine(_folder, "out")), new NullProgress()).RunAsync(CancellationToken.None);
        var outcome = Assert.Single(report.Inputs);
        Assert.Equal("failed", outcome.Status);
        Assert.Contains($"cannot connect to stream {url}", outcome.Error);
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
