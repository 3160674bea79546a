using MoeDetect.Tests.Support;

namespace MoeDetect.Tests.GpuEngine;

/// <summary>A small graph in the Ultralytics YOLOv8 convention: input "images" [batch, 3, 64, 64] (dynamic batch,
/// RGB 0–1), output "output0" [batch, 4 + 2 classes, 4096] from two 1×1 convolutions, boxes as 64·sigmoid and class
/// scores as sigmoid, so detections depend on every pixel value and channel (unlike the constant-output graphs of
/// <see cref="TinyDetectorGraphs"/>).</summary>
internal static class TinyDetectorGraph
{
    public const int Size = 64;

    /// <param name="openAnchors">Declare the anchors dimension of the output open, as dynamic Ultralytics exports do.</param>
    /// <param name="classActivation">The operator that turns class logits into scores.</param>
    /// <param name="inputReadOutsideConvolutions">The input also feeds a Mul by 1 ahead of the convolutions, so the
    /// input normalisation cannot be folded into their weights.</param>
    public static byte[] Build(bool openAnchors = false, string classActivation = "Sigmoid", bool inputReadOutsideConvolutions = false)
    {
        var random = new Random(7);
        float[] Weights(int count, double spread) => Enumerable.Range(0, count).Select(_ => (float)((random.NextDouble() - 0.5) * spread)).ToArray();
        var graph = new TestOnnx("tiny")
            .Input("images", 0, 3, Size, Size)
            .Output("output0", 0, 6, openAnchors ? 0 : Size * Size)
            .Floats("box_w", Weights(12, 4), 4, 3, 1, 1)
            .Floats("cls_w", Weights(6, 6), 2, 3, 1, 1)
            .Floats("scale", [64f])
            .Int64s("shape", [0, 6, -1], 3);
        string pixels = "images";
        if (inputReadOutsideConvolutions) graph.Floats("one", [1f]).Node("Mul", ["images", "one"], pixels = "images_times_one");
        return graph
            .Node("Conv", [pixels, "box_w"], "box_raw")
            .Node("Sigmoid", ["box_raw"], "box_unit")
            .Node("Mul", ["box_unit", "scale"], "box")
            .Node("Conv", [pixels, "cls_w"], "cls_raw")
            .Node(classActivation, ["cls_raw"], "cls")
            .Node("Concat", ["box", "cls"], "joined", ("axis", 1))
            .Node("Reshape", ["joined", "shape"], "output0")
            .ToBytes(new Dictionary<string, string> { ["names"] = "{0: 'ball', 1: 'cup'}", ["imgsz"] = $"[{Size}, {Size}]" });
    }
}
