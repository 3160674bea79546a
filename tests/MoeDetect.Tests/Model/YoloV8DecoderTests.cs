using MoeDetect.Model.Decoding;
using MoeDetect.Model.Detections;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Input;

namespace MoeDetect.Tests.Model;

/// <summary>The YOLOv8 decoder's choice of each anchor's class: the best score at or above the threshold among the kept
/// classes, ties to the later class, anchors with none left out.</summary>
public class YoloV8DecoderTests
{
    private const int Anchors = 4;
    private static readonly string[] Names = ["cat", "dog", "bird"];

    /// <summary>Class scores per anchor; boxes 16 px wide, 100 px apart, so that NMS keeps every candidate.</summary>
    private static readonly float[][] Scores =
    [
        [0.3f, 0.9f, 0.9f],   // a tie: the later class
        [0.25f, 0.1f, 0f],    // exactly the threshold passes
        [0.2f, 0.24f, 0.1f],  // nothing passes
        [0.8f, 0.7f, 0f],
    ];

    private static EngineOutput Output()
    {
        var v = new float[(4 + Names.Length) * Anchors];
        for (int a = 0; a < Anchors; a++)
        {
            (v[a], v[Anchors + a], v[2 * Anchors + a], v[3 * Anchors + a]) = (50 + 100 * a, 50, 16, 16);
            for (int c = 0; c < Names.Length; c++) v[(4 + c) * Anchors + a] = Scores[a][c];
        }
        return new EngineOutput([new NamedTensor("output0", v, [1, 4 + Names.Length, Anchors])], null, new EngineTimings(0, 0, 0));
    }

    private static List<(string Label, float Score, float CenterX)> Decode(DecodeOptions options) =>
        new YoloV8Decoder(Names, "output0").Decode(Output(), 0, LetterboxTransform.Create(640, 640, 640, 640, true), options)
            .Select(d => (d.Label, d.Score, (d.Box.X1 + d.Box.X2) / 2)).ToList();

    [Fact]
    public void Each_anchor_takes_its_best_class_at_or_above_the_threshold_ties_to_the_later_one()
    {
        Assert.Equal([("bird", 0.9f, 50f), ("cat", 0.8f, 350f), ("cat", 0.25f, 150f)], Decode(new DecodeOptions(Confidence: 0.25f)));
    }

    [Fact]
    public void A_class_filter_chooses_among_the_kept_classes_only()
    {
        Assert.Equal([("dog", 0.9f, 50f), ("dog", 0.7f, 350f)], Decode(new DecodeOptions(Confidence: 0.25f, Classes: new HashSet<int> { 1 })));
    }
}
