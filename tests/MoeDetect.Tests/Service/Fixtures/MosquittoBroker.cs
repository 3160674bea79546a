using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace MoeDetect.Tests.Service.Fixtures;

/// <summary>A real mosquitto broker on a free loopback port, anonymous, without persistence, that a test can stop
/// and start again on the same port. Tests using it skip with a message where mosquitto is not installed.</summary>
public sealed class MosquittoBroker : IDisposable
{
    private readonly string _folder;
    private Process? _process;

    private MosquittoBroker(string folder, int port)
    {
        _folder = folder;
        Port = port;
        File.WriteAllText(ConfigPath, $"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n");
    }

    public int Port { get; }
    private string ConfigPath => Path.Combine(_folder, "mosquitto.conf");

    public static string? Missing =>
        File.Exists("/usr/sbin/mosquitto") || File.Exists("/usr/bin/mosquitto")
            ? null : "mosquitto is not installed (apt-get install -y mosquitto mosquitto-clients)";

    public static MosquittoBroker Start(string folder)
    {
        var broker = new MosquittoBroker(folder, FreePort());
        broker.Start();
        return broker;
    }

    public void Start()
    {
        string exe = File.Exists("/usr/sbin/mosquitto") ? "/usr/sbin/mosquitto" : "mosquitto";
        _process = Process.Start(new ProcessStartInfo(exe, ["-c", ConfigPath])
        {
            RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false,
        }) ?? throw new InvalidOperationException("cannot start mosquitto");
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            if (_process.HasExited) throw new InvalidOperationException($"mosquitto exited with {_process.ExitCode} on port {Port}");
            try
            {
                using var probe = new TcpClient();
                probe.Connect(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException)
            {
                Thread.Sleep(50);
            }
        }
        throw new TimeoutException($"mosquitto did not listen on port {Port} within 10 s");
    }

    public void Stop()
    {
        if (_process is null) return;
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }
        _process.Dispose();
        _process = null;
    }

    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public void Dispose() => Stop();
}
