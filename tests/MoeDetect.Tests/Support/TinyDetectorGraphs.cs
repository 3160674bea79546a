using MoeDetect.Model.Decoding;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Loading;
using MoeDetect.Pipeline.Inference;

namespace MoeDetect.Tests.Support;

/// <summary>Builds small real ONNX detector graphs whose single output is a chosen constant tensor (plus 0 × the
/// mean of the image, so the graph really consumes its input). ONNX Runtime runs them like any export, which lets
/// tests fix exactly what the "network" outputs and check decoding, box mapping and format detection.</summary>
public static class TinyDetectorGraphs
{
    public static string Write(string folder, string fileName, int[] inputShape, string outputName, float[] output, int[] outputShape,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var graph = new TestOnnx("tiny")
            .Input("images", inputShape)
            .Output(outputName, outputShape)
            .Floats("constant_output", output, outputShape)
            .Floats("zero", [0f])
            .Node("ReduceMean", ["images"], "mean", ("keepdims", 0))
            .Node("Mul", ["mean", "zero"], "nothing")
            .Node("Add", ["constant_output", "nothing"], outputName);
        string path = Path.Combine(folder, fileName);
        File.WriteAllBytes(path, graph.ToBytes(metadata));
        return path;
    }

    /// <summary>A one-class ("person") YOLOv8-style detector, 64×64 input, that finds one box in the middle of every
    /// frame with score 0.9.</summary>
    public static string WriteOnePersonDetector(string folder) =>
        Write(folder, "one-person.onnx", [1, 3, 64, 64], "output0", YoloV8Output(1, 8, (32, 32, 16, 16, 0, 0.9f)), [1, 5, 8],
            new Dictionary<string, string> { ["names"] = "{0: 'person'}" });

    /// <summary><see cref="WriteOnePersonDetector"/> loaded on the CPU (one thread) behind a frame detector.</summary>
    public static FrameDetector LoadOnePersonDetector(string folder) =>
        new(ModelLoader.Load(WriteOnePersonDetector(folder), new EngineRequest(Threads: 1)), new DecodeOptions());

    /// <summary>An Ultralytics YOLOv8-style output [1, 4 + classes, anchors] holding the given boxes (cx, cy, w, h in
    /// input pixels) with one class score each; every other anchor scores 0.</summary>
    public static float[] YoloV8Output(int classes, int anchors, params (float Cx, float Cy, float W, float H, int Class, float Score)[] boxes)
    {
        var v = new float[(4 + classes) * anchors];
        for (int a = 0; a < boxes.Length; a++)
        {
            var b = boxes[a];
            v[a] = b.Cx; v[anchors + a] = b.Cy; v[2 * anchors + a] = b.W; v[3 * anchors + a] = b.H;
            v[(4 + b.Class) * anchors + a] = b.Score;
        }
        return v;
    }
}
