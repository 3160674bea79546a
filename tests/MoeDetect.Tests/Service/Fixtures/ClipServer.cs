using System.Net;

namespace MoeDetect.Tests.Service.Fixtures;

/// <summary>Serves one clip over loopback HTTP to every request, as a simple network camera would; disposing it
/// takes the camera off the network.</summary>
public sealed class ClipServer : IDisposable
{
    private readonly HttpListener _listener = new();

    private ClipServer(string clip, int port)
    {
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        var bytes = File.ReadAllBytes(clip);
        _ = Task.Run(async () =>
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try { context = await _listener.GetContextAsync(); }
                catch (Exception) { return; }
                context.Response.ContentType = "video/x-msvideo";
                context.Response.ContentLength64 = bytes.Length;
                try
                {
                    await context.Response.OutputStream.WriteAsync(bytes);
                    context.Response.Close();
                }
                catch (Exception) { /* the reader hung up */ }
            }
        });
    }

    public static ClipServer Start(string clip, int port) => new(clip, port);

    public void Dispose() => _listener.Close();
}
