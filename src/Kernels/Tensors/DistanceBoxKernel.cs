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

/// <summary>YOLOv8's head decode (Ultralytics' export) in one pass: each side's distance is the expectation of a
/// softmax over its bins (the DFL's 1×1 convolution, its weights given), the box is ((x1 + x2) / 2, (y1 + y2) / 2,
/// x2 − x1, y2 − y1) · stride from x1y1 = anchor − (left, top) and x2y2 = anchor + (right, bottom), and each class
/// score is the logit's sigmoid: the arithmetic of the ONNX nodes it replaces (Split, Reshape, Transpose, Softmax, Conv,
/// Slice, Sub, Add, Div, Concat, Mul, Sigmoid, Concat), without their passes over memory. y: [batch, 4 + classes,
/// anchors]. Two launch shapes, each value's arithmetic the same in both: <see cref="PerAnchor"/>, a thread per image
/// and anchor, each side worked out once; and <see cref="PerValue"/>, a thread per output value, a box value's thread
/// working out the two sides it needs (a centre and a size need the same two), for batches whose anchors alone leave
/// the GPU idle. On the H100 (docs/results/2026-12-07-h100-boxes), batch 1 (8,400 anchors): 43 µs a thread per anchor,
/// 14 µs a thread per value; batch 32: 167 against 267 µs.</summary>
public static class DistanceBoxKernel
{
    public static void PerAnchor(Index1D index, ArrayView<float> x, ArrayView<float> binWeights, ArrayView<float> anchors, ArrayView<float> strides,
        ArrayView<float> y, DistanceBoxShape s)
    {
        int n = index / s.Anchors, a = index - n * s.Anchors;
        long image = (long)n * s.InputRows * s.Anchors + a, output = (long)n * s.OutputRows * s.Anchors + a;
        float left = Distance(x, binWeights, image, 0, s), top = Distance(x, binWeights, image, 1, s);
        float right = Distance(x, binWeights, image, 2, s), bottom = Distance(x, binWeights, image, 3, s);
        for (int row = 0; row < 4; row++)
            y[output + (long)row * s.Anchors] = Box(row, row % 2 == 0 ? left : top, row % 2 == 0 ? right : bottom, anchors, strides, a, s);
        for (int c = 0; c < s.Classes; c++) y[output + (4L + c) * s.Anchors] = Score(x, image, c, s);
    }

    public static void PerValue(Index1D index, ArrayView<float> x, ArrayView<float> binWeights, ArrayView<float> anchors, ArrayView<float> strides,
        ArrayView<float> y, DistanceBoxShape s)
    {
        int a = index % s.Anchors, imageRow = index / s.Anchors, row = imageRow % s.OutputRows, n = imageRow / s.OutputRows;
        long image = (long)n * s.InputRows * s.Anchors + a;
        // Rows 0 and 2 (centre x, width) from left and right; 1 and 3 (centre y, height) from top and bottom.
        y[index] = row >= 4 ? Score(x, image, row - 4, s)
            : Box(row, Distance(x, binWeights, image, row % 2, s), Distance(x, binWeights, image, row % 2 + 2, s), anchors, strides, a, s);
    }

    /// <summary>Box row <paramref name="row"/> (centre x, centre y, width, height) from the distances to the anchor's
    /// <paramref name="near"/> side (left or top) and <paramref name="far"/> side (right or bottom).</summary>
    private static float Box(int row, float near, float far, ArrayView<float> anchors, ArrayView<float> strides, int a, DistanceBoxShape s)
    {
        float anchor = anchors[row % 2 * s.Anchors + a];
        float low = anchor - near, high = anchor + far;
        return (row < 2 ? (low + high) / 2f : high - low) * strides[a];
    }

    private static float Score(ArrayView<float> x, long image, int c, DistanceBoxShape s) =>
        ElementwiseKernels.Apply(x[image + (4L * s.Bins + c) * s.Anchors], new Activation(UnaryFunction.Sigmoid));

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
