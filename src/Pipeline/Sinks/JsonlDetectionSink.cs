using System.Text;
using System.Text.Json;
using MoeDetect.Pipeline.Frames;
using MoeDetect.Pipeline.Inference;
using MoeDetect.Model;

namespace MoeDetect.Pipeline.Sinks;

/// <summary>One JSON object per processed frame (JSON Lines): source, frame, timestamp_ms, width, height,
/// detections [{class_id, label, score, box: [x1, y1, x2, y2]}] in source pixels, and for MoE models the route
/// {experts: [[ids per block]…], gflops}. Written to a temporary file, renamed into place on completion.</summary>
public sealed class JsonlDetectionSink : IDetectionSink
{
    private readonly string _finalPath, _temporaryPath;
    private readonly StreamWriter _writer;
    private bool _completed;

    public JsonlDetectionSink(string path)
    {
        _finalPath = path;
        _temporaryPath = AtomicFile.TemporaryPathFor(path);
        _writer = new StreamWriter(_temporaryPath, append: false, new UTF8Encoding(false), bufferSize: 1 << 16);
    }

    public string Path => _finalPath;

    public void Write(Frame frame, FrameDetections detections) => _writer.WriteLine(Serialize(detections));

    public static string Serialize(FrameDetections d)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("source", d.Source);
            json.WriteNumber("frame", d.FrameIndex);
            json.WriteNumber("timestamp_ms", Math.Round(d.TimestampMs, 3));
            json.WriteNumber("width", d.Width);
            json.WriteNumber("height", d.Height);
            json.WriteStartArray("detections");
            foreach (var det in d.Detections)
            {
                json.WriteStartObject();
                json.WriteNumber("class_id", det.ClassId);
                json.WriteString("label", det.Label);
                json.WriteNumber("score", Math.Round(det.Score, 4));
                json.WriteStartArray("box");
                json.WriteNumberValue(Math.Round(det.Box.X1, 2));
                json.WriteNumberValue(Math.Round(det.Box.Y1, 2));
                json.WriteNumberValue(Math.Round(det.Box.X2, 2));
                json.WriteNumberValue(Math.Round(det.Box.Y2, 2));
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            if (d.Route is { } route)
            {
                json.WriteStartObject("route");
                json.WriteStartArray("experts");
                foreach (var block in route.ExpertsPerBlock)
                {
                    json.WriteStartArray();
                    foreach (int e in block) json.WriteNumberValue(e);
                    json.WriteEndArray();
                }
                json.WriteEndArray();
                json.WriteNumber("gflops", Math.Round(route.Gflops, 4));
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    public void Complete()
    {
        _writer.Flush();
        _writer.Dispose();
        AtomicFile.Commit(_temporaryPath, _finalPath);
        _completed = true;
    }

    public void Dispose()
    {
        if (_completed) return;
        _writer.Dispose();
    }
}
