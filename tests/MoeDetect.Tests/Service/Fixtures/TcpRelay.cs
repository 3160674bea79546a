using System.Net;
using System.Net.Sockets;

namespace MoeDetect.Tests.Service.Fixtures;

/// <summary>Forwards loopback TCP connections to a target port and can cut them all at once, without any MQTT
/// goodbye: to the broker that looks exactly like a client process that was killed.</summary>
public sealed class TcpRelay : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly List<Socket> _sockets = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly int _target;

    public TcpRelay(int target)
    {
        _target = target;
        _listener.Start();
        _ = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>While true, new connections are closed at once, as if the broker were unreachable.</summary>
    public bool Refusing { get; set; }

    /// <summary>Resets every relayed connection (RST, no FIN handshake).</summary>
    public void CutAll()
    {
        lock (_sockets)
        {
            foreach (var s in _sockets)
            {
                try
                {
                    s.LingerState = new LingerOption(true, 0);
                    s.Close();
                }
                catch (ObjectDisposedException) { }
            }
            _sockets.Clear();
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try { client = await _listener.AcceptSocketAsync(_stop.Token); }
            catch (Exception) { return; }
            if (Refusing)
            {
                client.Close();
                continue;
            }
            var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try { await upstream.ConnectAsync(IPAddress.Loopback, _target); }
            catch (SocketException)
            {
                client.Close();   // broker down: the client sees its connection fail
                upstream.Dispose();
                continue;
            }
            lock (_sockets) _sockets.AddRange([client, upstream]);
            _ = PumpAsync(client, upstream);
            _ = PumpAsync(upstream, client);
        }
    }

    private static async Task PumpAsync(Socket from, Socket to)
    {
        var buffer = new byte[16384];
        try
        {
            int n;
            while ((n = await from.ReceiveAsync(buffer)) > 0)
                await to.SendAsync(buffer.AsMemory(0, n));
        }
        catch (Exception) { }
        try { to.Shutdown(SocketShutdown.Send); } catch (Exception) { }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        CutAll();
    }
}
