using MoeDetect.Model.Detections;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Input;

namespace MoeDetect.Model.Decoding;

/// <summary>NanoDet (GFL head): per stride s, class scores [N, H·W, nc] (already sigmoid) and box logits
/// [N, H·W, 4·(regMax+1)]. Each side's distance is the expectation of a softmax over the bins, times s, measured
/// from the cell centre ((x + 0.5)·s, (y + 0.5)·s).</summary>
public sealed class NanoDetGflDecoder : IDetectionDecoder
{
    public const string KindName = "nanodet-gfl";
    private readonly IReadOnlyList<string> _classNames;
    private readonly int[] _strides;
    private readonly int _bins;
    private readonly int _inputWidth, _inputHeight;

    public NanoDetGflDecoder(IReadOnlyList<string> classNames, int[] strides, int regMax, int inputWidth, int inputHeight)
    {
        _classNames = classNames;
        _strides = strides;
        _bins = regMax + 1;
        _inputWidth = inputWidth;
        _inputHeight = inputHeight;
        OutputNames = strides.SelectMany(s => new[] { $"cls_s{s}", $"box_s{s}" }).ToArray();
    }

    public string Kind => KindName;
    public IReadOnlyList<string> OutputNames { get; }

    public List<Detection> Decode(EngineOutput output, int batchIndex, LetterboxTransform letterbox, DecodeOptions options)
    {
        var candidates = new List<Detection>();
        Span<float> distances = stackalloc float[4];
        foreach (int stride in _strides)
        {
            var scores = output.Tensor($"cls_s{stride}");
            var boxes = output.Tensor($"box_s{stride}").Item(batchIndex);
            int cells = scores.Shape[1], classes = scores.Shape[2];
            int gridWidth = (int)MathF.Ceiling((float)_inputWidth / stride);
            var s = scores.Item(batchIndex);
            for (int cell = 0; cell < cells; cell++)
            {
                for (int c = 0; c < classes; c++)
                {
                    float score = s[cell * classes + c];
                    if (score < options.Confidence || !options.Keeps(c)) continue;
                    ExpectedDistances(boxes.Slice(cell * 4 * _bins, 4 * _bins), distances);
                    float cx = (cell % gridWidth + 0.5f) * stride, cy = (cell / gridWidth + 0.5f) * stride;
                    var box = new BoxF(cx - distances[0] * stride, cy - distances[1] * stride,
                        cx + distances[2] * stride, cy + distances[3] * stride).ClipTo(_inputWidth, _inputHeight);
                    candidates.Add(new Detection(c, CandidateFinisher.Label(_classNames, c), score, box));
                }
            }
        }
        return CandidateFinisher.Finish(candidates, letterbox, options);
    }

    /// <summary>Per side: softmax over the bins, then Σ k·p_k (in stride units).</summary>
    private void ExpectedDistances(ReadOnlySpan<float> logits, Span<float> distances)
    {
        for (int side = 0; side < 4; side++)
        {
            var bins = logits.Slice(side * _bins, _bins);
            float max = float.NegativeInfinity;
            foreach (float b in bins) max = MathF.Max(max, b);
            float sum = 0, weighted = 0;
            for (int k = 0; k < bins.Length; k++)
            {
                float e = MathF.Exp(bins[k] - max);
                sum += e;
                weighted += k * e;
            }
            distances[side] = weighted / sum;
        }
    }
}
