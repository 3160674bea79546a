using MoeDetect.Model.Detections;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Input;

namespace MoeDetect.Model.Decoding;

/// <summary>User-tunable decoding: minimum score, NMS IoU, how many boxes to keep, which classes to keep
/// (null keeps all).</summary>
public sealed record DecodeOptions(float Confidence = 0.25f, float Iou = 0.45f, int MaxDetections = 100, IReadOnlySet<int>? Classes = null)
{
    public bool Keeps(int classId) => Classes is null || Classes.Contains(classId);
}

/// <summary>Turns one batch item's raw output tensors into detections in source pixels. One implementation per
/// output convention (CenterNet, NanoDet GFL, YOLOv8, YOLOv5).</summary>
public interface IDetectionDecoder
{
    /// <summary>Convention name as written in model metadata, e.g. "yolov8".</summary>
    string Kind { get; }

    /// <summary>Names of the engine output tensors this decoder reads.</summary>
    IReadOnlyList<string> OutputNames { get; }

    List<Detection> Decode(EngineOutput output, int batchIndex, LetterboxTransform letterbox, DecodeOptions options);
}

/// <summary>Shared tail of every decoder: map candidate boxes to source pixels, then class-aware NMS.</summary>
internal static class CandidateFinisher
{
    public static List<Detection> Finish(List<Detection> inputSpaceCandidates, LetterboxTransform letterbox, DecodeOptions options)
    {
        for (int i = 0; i < inputSpaceCandidates.Count; i++)
        {
            var d = inputSpaceCandidates[i];
            inputSpaceCandidates[i] = d with { Box = letterbox.ToSource(d.Box) };
        }
        return NonMaxSuppression.ClassAware(inputSpaceCandidates, options.Iou, options.MaxDetections);
    }

    public static string Label(IReadOnlyList<string> classNames, int classId) =>
        classId >= 0 && classId < classNames.Count ? classNames[classId] : $"class{classId}";
}

/// <summary>One image's candidates before NMS, as a decoder finds them row by row. Rows of a
/// <see cref="CandidateGraph"/> come in no particular order and an output gives each row's anchor (or cell) index;
/// NMS breaks score ties by the order the whole output lists the anchors in, so the candidates are put back in that
/// order. Without that output the rows are in anchor order already.</summary>
internal sealed class CandidateList(EngineOutput output, string? anchorsOutput, int batchIndex)
{
    private readonly NamedTensor? _anchors = anchorsOutput is null ? null : output.Tensor(anchorsOutput);
    private readonly List<Detection> _detections = [];
    private readonly List<int> _keys = [];

    public void Add(int row, Detection detection)
    {
        _detections.Add(detection);
        if (_anchors is not null) _keys.Add((int)_anchors.Data[batchIndex * _anchors.ElementsPerItem + row]);
    }

    /// <summary>Stable, so a cell's classes keep their order.</summary>
    public List<Detection> InAnchorOrder() =>
        _anchors is null ? _detections : Enumerable.Range(0, _keys.Count).OrderBy(i => _keys[i]).Select(i => _detections[i]).ToList();
}
