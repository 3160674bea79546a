using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MoeDetect.Service.Configuration;
using MoeDetect.Service.Mqtt;

namespace MoeDetect.Service.Health;

/// <summary>Serves <c>/healthz</c> (200 when healthy, 503 otherwise, with the service report as JSON) and
/// <c>/metrics</c> (Prometheus text format) over plain HTTP, on the loopback interface unless configured
/// otherwise. Uses the framework's HttpListener: no web stack for two read-only pages.</summary>
public sealed class HealthEndpoint(MetricsOptions options, ServiceReport report, ServiceMetrics metrics, ILogger<HealthEndpoint> log)
    : BackgroundService
{
    private readonly HttpListener _listener = new();

    public override Task StartAsync(CancellationToken cancellation)
    {
        if (options.Port == 0) return Task.CompletedTask;
        string host = options.Host is "0.0.0.0" or "*" ? "*" : options.Host;
        _listener.Prefixes.Add($"http://{host}:{options.Port}/");
        try
        {
            _listener.Start();   // fails here, at startup, when the port is taken
        }
        catch (HttpListenerException e)
        {
            throw new Model.MoeDetectException($"cannot serve metrics on {options.Host}:{options.Port}: {e.Message} (choose another metrics.port or --metrics-port, or 0 for none)", e);
        }
        log.LogInformation("health and metrics on http://{Host}:{Port}/healthz and /metrics", options.Host, options.Port);
        return base.StartAsync(cancellation);
    }

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        using var registration = stopping.Register(_listener.Stop);
        while (!stopping.IsCancellationRequested)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception) when (stopping.IsCancellationRequested) { break; }
            _ = Task.Run(() => AnswerAsync(context, stopping), CancellationToken.None);
        }
    }

    private async Task AnswerAsync(HttpListenerContext context, CancellationToken cancellation)
    {
        var response = context.Response;
        try
        {
            switch (context.Request.Url?.AbsolutePath)
            {
                case "/healthz":
                    response.StatusCode = report.IsHealthy(out _) ? 200 : 503;
                    response.ContentType = "application/json";
                    await JsonSerializer.SerializeAsync(response.OutputStream, report.Build(), MqttPublisher.Json, cancellation);
                    break;
                case "/metrics":
                    response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
                    await metrics.Registry.CollectAndExportAsTextAsync(response.OutputStream, cancellation);
                    break;
                default:
                    response.StatusCode = 404;
                    break;
            }
        }
        catch (Exception e) when (e is HttpListenerException or OperationCanceledException or IOException)
        {
            // The client went away; nothing to answer.
        }
        finally
        {
            response.Close();
        }
    }

    public override void Dispose()
    {
        ((IDisposable)_listener).Dispose();
        base.Dispose();
    }
}
