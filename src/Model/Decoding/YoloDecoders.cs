using System.Buffers;
using MoeDetect.Model.Detections;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Input;

namespace MoeDetect.Model.Decoding;

/// <summary>Ultralytics YOLOv8/YOLO11 exports: output [N, 4 + nc, A], channel-major: cx, cy, w, h, then one
/// score per class (already sigmoid, no objectness). With <paramref name="anchorsOutput"/>: a
/// <see cref="CandidateGraph"/>'s rows, whose anchor indices that output gives.</summary>
public sealed class YoloV8Decoder(IReadOnlyList<string> classNames, string outputName, string? anchorsOutput = null) : IDetectionDecoder
{
    public const string KindName = "yolov8";
    public string Kind => KindName;
    public IReadOnlyList<string> OutputNames { get; } = anchorsOutput is null ? [outputName] : [outputName, anchorsOutput];

    public YoloV8Decoder ForCandidates(string anchors) => new(classNames, outputName, anchors);

    public List<Detection> Decode(EngineOutput output, int batchIndex, LetterboxTransform letterbox, DecodeOptions options)
    {
        var tensor = output.Tensor(OutputNames[0]);
        int channels = tensor.Shape[1], anchors = tensor.Shape[2], classes = channels - 4;
        var v = tensor.Item(batchIndex);
        var bestScores = ArrayPool<float>.Shared.Rent(anchors);
        var bestClasses = ArrayPool<int>.Shared.Rent(anchors);
        try
        {
            var scores = bestScores.AsSpan(0, anchors);
            var best = bestClasses.AsSpan(0, anchors);
            scores.Fill(options.Confidence);
            best.Fill(-1);
            // A pass per class: each class's scores are contiguous, so memory is read in order (anchor by anchor, 80
            // reads an anchor apart each, took 5× as long). Ties go to the later class, as they did.
            for (int c = 0; c < classes; c++)
            {
                if (!options.Keeps(c)) continue;
                var row = v.Slice((4 + c) * anchors, anchors);
                for (int a = 0; a < anchors; a++)
                    if (row[a] >= scores[a])
                    {
                        scores[a] = row[a];
                        best[a] = c;
                    }
            }
            var candidates = new CandidateList(output, anchorsOutput, batchIndex);
            for (int a = 0; a < anchors; a++)
            {
                if (best[a] < 0) continue;
                var box = BoxF.FromCenter(v[a], v[anchors + a], v[2 * anchors + a], v[3 * anchors + a]);
                candidates.Add(a, new Detection(best[a], CandidateFinisher.Label(classNames, best[a]), scores[a], box));
            }
            return CandidateFinisher.Finish(candidates.InAnchorOrder(), letterbox, options);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(bestScores);
            ArrayPool<int>.Shared.Return(bestClasses);
        }
    }
}

/// <summary>YOLOv5-style exports: output [N, A, 5 + nc], row-major: cx, cy, w, h, objectness, class scores;
/// confidence = objectness × class score. With <paramref name="anchorsOutput"/>: as <see cref="YoloV8Decoder"/>.</summary>
public sealed class YoloV5Decoder(IReadOnlyList<string> classNames, string outputName, string? anchorsOutput = null) : IDetectionDecoder
{
    public const string KindName = "yolov5";
    public string Kind => KindName;
    public IReadOnlyList<string> OutputNames { get; } = anchorsOutput is null ? [outputName] : [outputName, anchorsOutput];

    public YoloV5Decoder ForCandidates(string anchors) => new(classNames, outputName, anchors);

    public List<Detection> Decode(EngineOutput output, int batchIndex, LetterboxTransform letterbox, DecodeOptions options)
    {
        var tensor = output.Tensor(OutputNames[0]);
        int anchors = tensor.Shape[1], stride = tensor.Shape[2], classes = stride - 5;
        var v = tensor.Item(batchIndex);
        var candidates = new CandidateList(output, anchorsOutput, batchIndex);
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
            candidates.Add(a, new Detection(best, CandidateFinisher.Label(classNames, best), bestScore,
                BoxF.FromCenter(row[0], row[1], row[2], row[3])));
        }
        return CandidateFinisher.Finish(candidates.InAnchorOrder(), letterbox, options);
    }
}
