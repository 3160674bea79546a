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
