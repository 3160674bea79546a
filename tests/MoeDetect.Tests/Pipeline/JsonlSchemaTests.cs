using System.Text.Json;
using MoeDetect.Model.Detections;
using MoeDetect.Model.Engines;
using MoeDetect.Pipeline.Inference;
using MoeDetect.Pipeline.Sinks;
using MoeDetect.Tests.Support;

namespace MoeDetect.Tests.Pipeline;

public class JsonlSchemaTests
{
    private static FrameDetections Sample(FrameRoute? route) => new("cam1", 42, 1680.5, 1280, 720,
        [new Detection(0, "person", 0.87654f, new BoxF(10.123f, 20, 110, 220.456f))], route);

    [Fact]
    public void Frame_line_has_the_documented_fields_and_types()
    {
        using var doc = JsonDocument.Parse(JsonlDetectionSink.Serialize(Sample(null)));
        var root = doc.RootElement;
        Assert.Equal(["source", "frame", "timestamp_ms", "width", "height", "detections"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal("cam1", root.GetProperty("source").GetString());
        Assert.Equal(42, root.GetProperty("frame").GetInt64());
        Assert.Equal(1680.5, root.GetProperty("timestamp_ms").GetDouble());
        Assert.Equal((1280, 720), (root.GetProperty("width").GetInt32(), root.GetProperty("height").GetInt32()));
        var det = Assert.Single(root.GetProperty("detections").EnumerateArray().ToList());
        Assert.Equal(["class_id", "label", "score", "box"], det.EnumerateObject().Select(p => p.Name));
        Assert.Equal(0, det.GetProperty("class_id").GetInt32());
        Assert.Equal("person", det.GetProperty("label").GetString());
        Assert.Equal(0.8765, det.GetProperty("score").GetDouble());
        Assert.Equal([10.12, 20, 110, 220.46], det.GetProperty("box").EnumerateArray().Select(v => v.GetDouble()));
    }

    [Fact]
    public void Moe_frames_carry_their_route()
    {
        using var doc = JsonDocument.Parse(JsonlDetectionSink.Serialize(Sample(new FrameRoute([[0], [1, 2]], 1.23456))));
        var route = doc.RootElement.GetProperty("route");
        Assert.Equal([[0], [1, 2]], route.GetProperty("experts").EnumerateArray().Select(b => b.EnumerateArray().Select(e => e.GetInt32()).ToArray()));
        Assert.Equal(1.2346, route.GetProperty("gflops").GetDouble());
    }

    [Fact]
    public void File_appears_only_when_completed()
    {
        string folder = TestPaths.NewTempFolder(), path = Path.Combine(folder, "a.jsonl");
        var sink = new JsonlDetectionSink(path);
        sink.Write(null!, Sample(null));
        Assert.False(File.Exists(path));
        sink.Complete();
        sink.Dispose();
        Assert.Single(File.ReadAllLines(path));
        Assert.Equal(["a.jsonl"], Directory.GetFiles(folder).Select(Path.GetFileName));
    }
}
