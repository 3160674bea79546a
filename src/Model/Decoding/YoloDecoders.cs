using MoeDetect.Model.Detections;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Input;

namespace MoeDetect.Model.Decoding;

/// <summary>Ultralytics YOLOv8/YOLO11 exports: output [N, 4 + nc, A], channel-major: cx, cy, w, h, then one
/// score per class (already sigmoid, no objectness).</summary>
public sealed class YoloV8Decoder(IReadOnlyList<string> classNames, string outputName) : IDetectionDecoder
{
    public const string KindName = "yolov8";
    public string Kind => KindName;
    public IReadOnlyList<string> OutputNames { get; } = [outputName];

    public List<Detection> Decode(EngineOutput output, int batchIndex, LetterboxTransform letterbox, DecodeOptions options)
    {
        var tensor = output.Tensor(OutputNames[0]);
        int channels = tensor.Shape[1], anchors = tensor.Shape[2], classes = channels - 4;
        var v = tensor.Item(batchIndex);
        var candidates = new List<Detection>();
        for (int a = 0; a < anchors; a++)
        {
            int best = -1;
            float bestScore = options.Confidence;
            for (int c = 0; c < classes; c++)
            {
                float s = v[(4 + c) * anchors + a];
                if (s >= bestScore && options.Keeps(c)) { bestScore = s; best = c; }
            }
            if (best < 0) continue;
            var box = BoxF.FromCenter(v[a], v[anchors + a], v[2 * anchors + a], v[3 * anchors + a]);
            candidates.Add(new Detection(best, CandidateFinisher.Label(classNames, best), bestScore, box));
        }
        return CandidateFinisher.Finish(candidates, letterbox, options);
    }
}

/// <summary>YOLOv5-style exports: output [N, A, 5 + nc], row-major: cx, cy, w, h, objectness, class scores;
/// confidence = objectness × class score.</summary>
public sealed class YoloV5Decoder(IReadOnlyList<string> classNames, string outputName) : IDetectionDecoder
{
    public const string KindName = "yolov5";
    public string Kind => KindName;
    public IReadOnlyList<string> OutputNames { get; } = [outputName];

    public List<Detection> Decode(EngineOutput output, int batchIndex, LetterboxTransform letterbox, DecodeOptions options)
    {
        var tensor = output.Tensor(OutputNames[0]);
        int anchors = tensor.Shape[1], stride = tensor.Shape[2], classes = stride - 5;
        var v = tensor.Item(batchIndex);
        var candidates = new List<Detection>();
        for (int a = 0; a < anchors; a++)
        {
            var row = v.Slice(a * stride, stride);
            float objectness = row[4];
            if (objectness < options.Confidence) continue;
            int best = -1;
            float bestScore = options.Confidence;
            for (int c = 0; c < classes; c++)
            {
                float s = objectness * row[5 + c];
                if (s >= bestScore && options.Keeps(c)) { bestScore = s; best = c; }
            }
            if (best < 0) continue;
            candidates.Add(new Detection(best, CandidateFinisher.Label(classNames, best), bestScore,
                BoxF.FromCenter(row[0], row[1], row[2], row[3])));
        }
        return CandidateFinisher.Finish(candidates, letterbox, options);
    }
}
