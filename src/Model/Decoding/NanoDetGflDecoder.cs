using System.Numerics;
using MoeDetect.Model.Detections;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Input;

namespace MoeDetect.Model.Decoding;

/// <summary>NanoDet (GFL head): per stride s, class scores [N, H·W, nc] (already sigmoid) and box logits
/// [N, H·W, 4·(regMax+1)]. Each side's distance is the expectation of a softmax over the bins, times s, measured
/// from the cell centre ((x + 0.5)·s, (y + 0.5)·s). The candidate form (<see cref="ForCandidates"/>) reads only the
/// cells a <see cref="CandidateGraph"/> chose: their scores, logits and index among all strides' cells.</summary>
public sealed class NanoDetGflDecoder : IDetectionDecoder
{
    public const string KindName = "nanodet-gfl";
    public const string CandidateScores = "cls_candidates", CandidateBoxes = "box_candidates", CandidateCells = "cell_candidates";
    private readonly IReadOnlyList<string> _classNames;
    private readonly int[] _strides;
    private readonly int[] _firstCells;
    private readonly int _bins;
    private readonly int _inputWidth, _inputHeight;
    private readonly bool _candidates;

    public NanoDetGflDecoder(IReadOnlyList<string> classNames, int[] strides, int regMax, int inputWidth, int inputHeight)
        : this(classNames, strides, regMax, inputWidth, inputHeight, candidates: false)
    {
    }

    private NanoDetGflDecoder(IReadOnlyList<string> classNames, int[] strides, int regMax, int inputWidth, int inputHeight, bool candidates)
    {
        _classNames = classNames;
        _strides = strides;
        _bins = regMax + 1;
        _inputWidth = inputWidth;
        _inputHeight = inputHeight;
        _candidates = candidates;
        _firstCells = new int[strides.Length];
        for (int i = 1; i < strides.Length; i++) _firstCells[i] = _firstCells[i - 1] + GridWidth(strides[i - 1]) * GridHeight(strides[i - 1]);
        OutputNames = candidates ? [CandidateScores, CandidateBoxes, CandidateCells] : strides.SelectMany(s => new[] { $"cls_s{s}", $"box_s{s}" }).ToArray();
    }

    public string Kind => KindName;
    public IReadOnlyList<string> OutputNames { get; }
    public IReadOnlyList<int> Strides => _strides;

    /// <summary>The decoder of the same head's <see cref="CandidateGraph"/> outputs.</summary>
    public NanoDetGflDecoder ForCandidates() => new(_classNames, _strides, _bins - 1, _inputWidth, _inputHeight, candidates: true);

    public List<Detection> Decode(EngineOutput output, int batchIndex, LetterboxTransform letterbox, DecodeOptions options)
    {
        var candidates = new CandidateList(output, _candidates ? CandidateCells : null, batchIndex);
        if (_candidates)
        {
            var scores = output.Tensor(CandidateScores);
            var s = scores.Item(batchIndex);
            var boxes = output.Tensor(CandidateBoxes).Item(batchIndex);
            var cells = output.Tensor(CandidateCells).Item(batchIndex);
            int classes = scores.Shape[2];
            for (int i = 0; i < cells.Length; i++)
            {
                int cell = (int)cells[i], level = _firstCells.Length - 1;
                while (_firstCells[level] > cell) level--; // a lambda search here cost 3× the cell's own decoding
                AddCell(candidates, i, s.Slice(i * classes, classes), boxes.Slice(i * 4 * _bins, 4 * _bins), _strides[level], cell - _firstCells[level], options);
            }
        }
        else
        {
            foreach (int stride in _strides)
            {
                var scores = output.Tensor($"cls_s{stride}");
                var s = scores.Item(batchIndex);
                var boxes = output.Tensor($"box_s{stride}").Item(batchIndex);
                int cells = scores.Shape[1], classes = scores.Shape[2];
                for (int cell = 0; cell < cells; cell++)
                    AddCell(candidates, cell, s.Slice(cell * classes, classes), boxes.Slice(cell * 4 * _bins, 4 * _bins), stride, cell, options);
            }
        }
        return CandidateFinisher.Finish(candidates.InAnchorOrder(), letterbox, options);
    }

    /// <summary>One candidate per class of the cell that passes the threshold; <paramref name="row"/>: the cell's row in its output.</summary>
    private void AddCell(CandidateList candidates, int row, ReadOnlySpan<float> scores, ReadOnlySpan<float> logits, int stride, int cell, DecodeOptions options)
    {
        if (!AnyAtLeast(scores, options.Confidence)) return; // most cells: one vector compare per 8 classes
        Span<float> distances = stackalloc float[4];
        bool decoded = false;
        for (int c = 0; c < scores.Length; c++)
        {
            float score = scores[c];
            if (score < options.Confidence || !options.Keeps(c)) continue;
            if (!decoded) ExpectedDistances(logits, distances);
            decoded = true;
            int gridWidth = GridWidth(stride);
            float cx = (cell % gridWidth + 0.5f) * stride, cy = (cell / gridWidth + 0.5f) * stride;
            var box = new BoxF(cx - distances[0] * stride, cy - distances[1] * stride,
                cx + distances[2] * stride, cy + distances[3] * stride).ClipTo(_inputWidth, _inputHeight);
            candidates.Add(row, new Detection(c, CandidateFinisher.Label(_classNames, c), score, box));
        }
    }

    private static bool AnyAtLeast(ReadOnlySpan<float> values, float threshold)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var bound = new Vector<float>(threshold);
            for (; i <= values.Length - Vector<float>.Count; i += Vector<float>.Count)
                if (Vector.GreaterThanOrEqualAny(new Vector<float>(values[i..]), bound)) return true;
        }
        for (; i < values.Length; i++)
            if (values[i] >= threshold) return true;
        return false;
    }

    private int GridWidth(int stride) => (int)MathF.Ceiling((float)_inputWidth / stride);

    private int GridHeight(int stride) => (int)MathF.Ceiling((float)_inputHeight / stride);

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
