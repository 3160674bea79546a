using MoeDetect.Model.Detections;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Input;

namespace MoeDetect.Model.Decoding;

/// <summary>CenterNet graphs that decode inside the graph: output [N, K, 6] rows (x1, y1, x2, y2, score, class)
/// in network-input pixels, already peak-filtered and sorted.</summary>
public sealed class CenterNetDecoder(IReadOnlyList<string> classNames, string outputName = "detections") : IDetectionDecoder
{
    public const string KindName = "centernet";
    public string Kind => KindName;
    public IReadOnlyList<string> OutputNames { get; } = [outputName];

    public List<Detection> Decode(EngineOutput output, int batchIndex, LetterboxTransform letterbox, DecodeOptions options)
    {
        var rows = output.Tensor(OutputNames[0]).Item(batchIndex);
        var candidates = new List<Detection>();
        for (int r = 0; r + 6 <= rows.Length; r += 6)
        {
            float score = rows[r + 4];
            int classId = (int)MathF.Round(rows[r + 5]);
            if (score < options.Confidence || !options.Keeps(classId)) continue;
            candidates.Add(new Detection(classId, CandidateFinisher.Label(classNames, classId), score,
                new BoxF(rows[r], rows[r + 1], rows[r + 2], rows[r + 3])));
        }
        return CandidateFinisher.Finish(candidates, letterbox, options);
    }
}
