using System.Diagnostics;
using MoeDetect.Tests.Service.Fixtures;
using MoeDetect.Tests.Support;

namespace MoeDetect.Tests.Cli;

/// <summary>The real program as a daemon: quick-start flags, a real broker, and a real SIGTERM.</summary>
public class ServeCommandTests
{
    private readonly string _folder = TestPaths.NewTempFolder();

    [BrokerFact]
    public async Task Sigterm_shuts_down_gracefully_and_publishes_offline()
    {
        using var broker = MosquittoBroker.Start(_folder);
        await using var recorder = await MqttRecorder.SubscribeAsync(broker.Port, "cli/#");
        var clip = TestVideos.Write(Path.Combine(_folder, "door.mp4"), frames: 20);
        var model = TinyDetectorGraphs.WriteOnePersonDetector(_folder);

        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "moedetect.dll"), "serve", "--source", clip, "--loop",
                     "--mqtt", $"mqtt://127.0.0.1:{broker.Port}", "--topic-prefix", "cli", "--model", model })
            start.ArgumentList.Add(a);
        using var service = Process.Start(start)!;
        var log = service.StandardError.ReadToEndAsync();
        _ = service.StandardOutput.ReadToEndAsync();
        try
        {
            await recorder.WaitForAsync(m => m.Topic == "cli/available" && m.Payload == "online", TimeSpan.FromSeconds(60), "service online");
            await recorder.WaitForAsync(m => m.Topic.StartsWith("cli/door/"), TimeSpan.FromSeconds(60), "a camera message");

            Process.Start("kill", ["-TERM", service.Id.ToString()])!.WaitForExit();
            Assert.True(service.WaitForExit(TimeSpan.FromSeconds(40)), "service did not stop after SIGTERM");
            Assert.True(service.ExitCode == 0, $"exit code {service.ExitCode}: {await log}");
            await recorder.WaitForAsync(m => m.Topic == "cli/available" && m.Payload == "offline", TimeSpan.FromSeconds(10), "offline after SIGTERM");
        }
        finally
        {
            if (!service.HasExited) service.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public void Invalid_config_lists_every_problem_and_exits_non_zero()
    {
        var config = Path.Combine(_folder, "bad.yaml");
        File.WriteAllText(config, "cameras:\n  - name: a\n    zones:\n      - name: z\n        points: [[0, 0], [1, 1]]\nmqtt:\n  qos: 7\n");
        var r = CliProcess.Run("serve", "--config", config);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("cameras[0]", r.StandardError);
        Assert.Contains("points", r.StandardError);
        Assert.Contains("qos", r.StandardError);
    }
}
