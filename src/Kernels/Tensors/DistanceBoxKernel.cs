using ILGPU;
using ILGPU.Algorithms;

namespace MoeDetect.Kernels.Tensors;

/// <summary>Sizes of a distribution-focal-loss head's decode (<see cref="DistanceBoxKernel"/>): per image, rows of
/// <see cref="Anchors"/> values, first 4 · <see cref="Bins"/> rows of box logits (4 sides, side-major), then
/// <see cref="Classes"/> rows of class logits.</summary>
public readonly record struct DistanceBoxShape(int Batch, int Bins, int Classes, int Anchors)
{
    public int InputRows => 4 * Bins + Classes;
    public int OutputRows => 4 + Classes;
}

/// <summary>YOLOv8's head decode (Ultralytics' export) in one pass, a thread per (image, anchor): each side's distance
/// is the expectation of a softmax over its bins (the DFL's 1×1 convolution, its weights given), the box is
/// ((x1 + x2) / 2, (y1 + y2) / 2, x2 − x1, y2 − y1) · stride from x1y1 = anchor − (left, top) and x2y2 = anchor +
/// (right, bottom), and each class score is the logit's sigmoid: the arithmetic of the ONNX nodes it replaces
/// (Split, Reshape, Transpose, Softmax, Conv, Slice, Sub, Add, Div, Concat, Mul, Sigmoid, Concat), without their
/// passes over memory. y: [batch, 4 + classes, anchors].</summary>
public static class DistanceBoxKernel
{
    public static void Run(Index1D index, ArrayView<float> x, ArrayView<float> binWeights, ArrayView<float> anchors, ArrayView<float> strides,
        ArrayView<float> y, DistanceBoxShape s)
    {
        int n = index / s.Anchors, a = index - n * s.Anchors;
        long image = (long)n * s.InputRows * s.Anchors + a, output = (long)n * s.OutputRows * s.Anchors + a;
        float left = Distance(x, binWeights, image, 0, s), top = Distance(x, binWeights, image, 1, s);
        float right = Distance(x, binWeights, image, 2, s), bottom = Distance(x, binWeights, image, 3, s);
        float ax = anchors[a], ay = anchors[s.Anchors + a], stride = strides[a];
        float x1 = ax - left, y1 = ay - top, x2 = ax + right, y2 = ay + bottom;
        y[output] = (x1 + x2) / 2f * stride;
        y[output + s.Anchors] = (y1 + y2) / 2f * stride;
        y[output + 2L * s.Anchors] = (x2 - x1) * stride;
        y[output + 3L * s.Anchors] = (y2 - y1) * stride;
        var sigmoid = new Activation(UnaryFunction.Sigmoid);
        for (int c = 0; c < s.Classes; c++)
            y[output + (4L + c) * s.Anchors] = ElementwiseKernels.Apply(x[image + (4L * s.Bins + c) * s.Anchors], sigmoid);
    }

    /// <summary>Side <paramref name="side"/>'s expected distance: Σ softmax(logits)ᵢ · weightᵢ over its bins, the softmax
    /// as <see cref="AxisKernels.Softmax"/> computes it.</summary>
    private static float Distance(ArrayView<float> x, ArrayView<float> binWeights, long image, int side, DistanceBoxShape s)
    {
        long first = image + (long)side * s.Bins * s.Anchors;
        float max = float.NegativeInfinity;
        for (int b = 0; b < s.Bins; b++) max = XMath.Max(max, x[first + b * (long)s.Anchors]);
        float sum = 0;
        for (int b = 0; b < s.Bins; b++) sum += XMath.Exp(x[first + b * (long)s.Anchors] - max);
        float expectation = 0;
        for (int b = 0; b < s.Bins; b++) expectation += XMath.Exp(x[first + b * (long)s.Anchors] - max) / sum * binWeights[b];
        return expectation;
    }
}
