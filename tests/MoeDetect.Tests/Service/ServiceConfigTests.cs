using MoeDetect.Service.Configuration;
using MoeDetect.Tests.Service.Fixtures;
using MoeDetect.Tests.Support;

namespace MoeDetect.Tests.Service;

public sealed class ServiceConfigTests
{
    [Fact]
    public void The_example_config_in_configs_is_valid()
    {
        Environment.SetEnvironmentVariable("MQTT_PASSWORD", null);
        var options = ServiceConfigFile.Load(Path.Combine(TestPaths.RepositoryRoot, "configs", "moedetect.example.yaml"));

        Assert.True(options.Cameras.Count >= 2);
        Assert.Contains(options.Cameras, c => c.Zones.Count > 0);
        Assert.Equal("moedetect", options.Mqtt.TopicPrefix);
    }

    [Fact]
    public void Every_problem_is_listed_with_its_path()
    {
        const string yaml = """
            cameras:
              - name: front door
                source: rtsp://cam1/stream
                confidence: 1.5
              - name: yard
                source: ""
                fps_limit: fast
                zones:
                  - name: lawn
                    points: [[0, 0], [100, 0]]
                  - name: lawn
                    points: [[0, 0], [100, 0], [x, 5]]
              - name: yard
                source: 0
                colour: red
            mqtt:
              host: broker
              event_qos: 3
              password: ${MOEDETECT_TEST_UNSET_VARIABLE}
            tracking:
              low_confidence: 0.1
            """;

        var error = Assert.Throws<ConfigException>(() => ServiceConfigFile.Parse(yaml, "test.yaml"));
        var listed = error.Problems.Select(p => $"{p.Path}: {p.Message}").ToList();

        string[] expected =
        [
            "cameras[0].name: 'front door' is not a usable camera name",
            "cameras[0].confidence: must be in (0, 1], got 1.5",
            "cameras[1].source: is required",
            "cameras[1].fps_limit: expected a number, got 'fast'",
            "cameras[1].zones[0].points: needs at least 3 points, got 2",
            "cameras[1].zones[1].name: 'lawn' is used by another zone",
            "cameras[1].zones[1].points[2]: expected a point [x, y] of two numbers",
            "cameras[2].name: 'yard' is used by another camera",
            "cameras[2].colour: unknown setting",
            "mqtt.event_qos: must be 0, 1 or 2, got 3",
            "mqtt.password: environment variable MOEDETECT_TEST_UNSET_VARIABLE is not set",
        ];
        foreach (var problem in expected)
            Assert.True(listed.Any(l => l.StartsWith(problem)), $"missing '{problem}' in:\n{string.Join("\n", listed)}");
        Assert.Contains("test.yaml has", error.Message);
        Assert.Contains(error.Problems, p => p.Path == "cameras[2].colour" && p.Line == 15);
    }

    [Fact]
    public void Secrets_come_from_environment_variables_and_json_reads_like_yaml()
    {
        Environment.SetEnvironmentVariable("MOEDETECT_TEST_MQTT_PASSWORD", "s3cret");
        const string json = """
            {
              "cameras": [ { "name": "gate", "source": "rtsp://gate/live", "labels": ["person", "car"], "fps_limit": 5,
                             "zones": [ { "name": "drive", "points": [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]] } ] } ],
              "mqtt": { "host": "broker.local", "username": "moe", "password": "${MOEDETECT_TEST_MQTT_PASSWORD}",
                        "client_id": "${MOEDETECT_TEST_UNSET_ID:-moedetect-gate}" }
            }
            """;

        var options = ServiceConfigFile.Parse(json, "test.json");

        Assert.Equal("s3cret", options.Mqtt.Password);
        Assert.Equal("moedetect-gate", options.Mqtt.ClientId);
        var camera = Assert.Single(options.Cameras);
        Assert.Equal(["person", "car"], camera.Labels);
        Assert.Equal(5, camera.FpsLimit);
        Assert.Equal(4, camera.Zones[0].Points.Count);
    }

    [Fact]
    public void A_missing_file_and_broken_syntax_are_reported_as_such()
    {
        var missing = Assert.Throws<ConfigException>(() => ServiceConfigFile.Load("/nonexistent/moedetect.yaml"));
        Assert.Contains("not found", missing.Message);

        var syntax = Assert.Throws<ConfigException>(() => ServiceConfigFile.Parse("cameras:\n  - name: a\n    source: [unclosed\n", "bad.yaml"));
        Assert.Equal("(syntax)", Assert.Single(syntax.Problems).Path);
    }

    [Fact]
    public void Quick_start_flags_map_to_options()
    {
        var options = QuickStart.FromFlags(["rtsp://10.0.0.5:554/live", "rtsp://10.0.0.6/live", "0"],
            mqttUrl: "mqtt://moe:p%40ss@broker.lan:1884", topicPrefix: "home/detect", loop: true, confidence: 0.6, metricsPort: 9100);

        Assert.Equal(["10_0_0_5_live", "10_0_0_6_live", "device0"], options.Cameras.Select(c => c.Name));
        Assert.All(options.Cameras, c => Assert.True(c.Loop && c.Confidence == 0.6));
        Assert.Equal(("broker.lan", 1884, "moe", "p@ss", false), (options.Mqtt.Host, options.Mqtt.Port, options.Mqtt.Username, options.Mqtt.Password, options.Mqtt.Tls));
        Assert.Equal("home/detect", options.Mqtt.TopicPrefix);
        Assert.Equal(9100, options.Metrics.Port);
        Assert.Null(options.Model.Path);
        Assert.Equal("/m.onnx", options.WithDefaultModel("/m.onnx").Model.Path);

        var tls = QuickStart.FromFlags(["0"], mqttUrl: "mqtts://broker.lan");
        Assert.Equal((8883, true), (tls.Mqtt.Port, tls.Mqtt.Tls));
    }

    [Fact]
    public void Bad_quick_start_flags_name_the_flag()
    {
        var error = Assert.Throws<ConfigException>(() => QuickStart.FromFlags([], mqttUrl: "http://broker", confidence: 2, topicPrefix: "a/#"));
        var paths = error.Problems.Select(p => p.Path).ToList();
        Assert.Contains("--mqtt", paths);
        Assert.Contains("--source", paths);
        Assert.Contains("--topic-prefix", paths);

        var conf = Assert.Throws<ConfigException>(() => QuickStart.FromFlags(["0"], confidence: 2));
        Assert.Contains(conf.Problems, p => p.Path == "--conf");
    }
}
