using MoeDetect.Model.Engines;
using MoeDetect.Service.Cameras;
using Prometheus;

namespace MoeDetect.Service.Health;

/// <summary>The service's Prometheus metrics, in a registry of its own (several services may share a process in
/// tests). Per-camera counters are read from the feeds when scraped; latencies and routes are observed as they
/// happen.</summary>
public sealed class ServiceMetrics
{
    private static readonly double[] LatencyBuckets = Histogram.ExponentialBuckets(0.0005, 2, 16);   // 0.5 ms … 16 s

    private readonly Histogram _stageLatency;
    private readonly Histogram _batchSize;
    private readonly Counter _expertSelections;
    private readonly Counter _gflops;
    private readonly Counter _events;
    private readonly Gauge _mqttQueueDepth;
    private readonly Gauge _mqttConnected;
    private readonly Counter _mqttDropped;
    private readonly Counter _mqttPublished;

    public ServiceMetrics(IReadOnlyList<CameraFeed> feeds)
    {
        Registry = Metrics.NewCustomRegistry();
        var factory = Metrics.WithCustomRegistry(Registry);
        var camera = new[] { "camera" };
        var decoded = factory.CreateCounter("moedetect_camera_frames_decoded_total", "Frames decoded from the camera's source.", camera);
        var processed = factory.CreateCounter("moedetect_camera_frames_processed_total", "Frames that went through the detector.", camera);
        var dropped = factory.CreateCounter("moedetect_camera_frames_dropped_total", "Live frames replaced by a newer one before the detector was free.", camera);
        var skipped = factory.CreateCounter("moedetect_camera_frames_skipped_total", "Frames left out by the camera's fps limit.", camera);
        var reconnects = factory.CreateCounter("moedetect_camera_reconnects_total", "Times the camera came back after being offline.", camera);
        var fps = factory.CreateGauge("moedetect_camera_fps", "Processed frames per second over the last 5 s.", camera);
        var online = factory.CreateGauge("moedetect_camera_online", "1 while the camera delivers frames, else 0.", camera);
        _stageLatency = factory.CreateHistogram("moedetect_stage_latency_seconds", "Per-frame time of each corridor stage.",
            new HistogramConfiguration { LabelNames = ["stage"], Buckets = LatencyBuckets });
        _batchSize = factory.CreateHistogram("moedetect_detector_batch_size", "Frames per detector run (frames of several cameras batched).",
            new HistogramConfiguration { Buckets = [1, 2, 3, 4, 6, 8, 12, 16, 32, 64] });
        _expertSelections = factory.CreateCounter("moedetect_expert_selections_total", "Times each expert of each MoE block ran.", "block", "expert");
        _gflops = factory.CreateCounter("moedetect_route_gflops_total", "Compute actually run by MoE models, in GFLOPs.");
        _events = factory.CreateCounter("moedetect_events_total", "Object events published, by type.", "camera", "type");
        _mqttQueueDepth = factory.CreateGauge("moedetect_mqtt_queue_depth", "Messages waiting for the broker.");
        _mqttConnected = factory.CreateGauge("moedetect_mqtt_connected", "1 while connected to the broker, else 0.");
        _mqttDropped = factory.CreateCounter("moedetect_mqtt_dropped_messages_total", "Messages dropped: queue full (oldest first) or telemetry while disconnected.", "reason");
        _mqttPublished = factory.CreateCounter("moedetect_mqtt_published_messages_total", "Messages the broker accepted.");

        Registry.AddBeforeCollectCallback(() =>
        {
            foreach (var feed in feeds)
            {
                decoded.WithLabels(feed.Name).IncTo(feed.Decoded);
                processed.WithLabels(feed.Name).IncTo(feed.Processed);
                dropped.WithLabels(feed.Name).IncTo(feed.Dropped);
                skipped.WithLabels(feed.Name).IncTo(feed.Skipped);
                reconnects.WithLabels(feed.Name).IncTo(feed.Status.Reconnects);
                fps.WithLabels(feed.Name).Set(feed.ProcessedRate.PerSecond);
                online.WithLabels(feed.Name).Set(feed.Status.State == CameraState.Online ? 1 : 0);
            }
        });
    }

    public CollectorRegistry Registry { get; }

    public void ObserveStage(string stage, double seconds) => _stageLatency.WithLabels(stage).Observe(seconds);

    public void ObserveStage(string stage, double seconds, long count) => _stageLatency.WithLabels(stage).Observe(seconds, count);

    public void ObserveBatch(int frames) => _batchSize.Observe(frames);

    public void ObserveRoute(FrameRoute route)
    {
        for (int block = 0; block < route.ExpertsPerBlock.Count; block++)
            foreach (int expert in route.ExpertsPerBlock[block])
                _expertSelections.WithLabels(block.ToString(), expert.ToString()).Inc();
        _gflops.Inc(route.Gflops);
    }

    public void CountEvent(string camera, string type) => _events.WithLabels(camera, type).Inc();
    public void SetMqttQueueDepth(int depth) => _mqttQueueDepth.Set(depth);
    public void SetMqttConnected(bool connected) => _mqttConnected.Set(connected ? 1 : 0);
    public void CountMqttDropped(string reason) => _mqttDropped.WithLabels(reason).Inc();
    public void CountMqttPublished() => _mqttPublished.Inc();
}
