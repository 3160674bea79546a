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

/// <summary>YOLOv8's head decode (Ultralytics' export) in one pass, a thread per output value: each side's distance
/// is the expectation of a softmax over its bins (the DFL's 1×1 convolution, its weights given), the box is
/// ((x1 + x2) / 2, (y1 + y2) / 2, x2 − x1, y2 − y1) · stride from x1y1 = anchor − (left, top) and x2y2 = anchor +
/// (right, bottom), and each class score is the logit's sigmoid: the arithmetic of the ONNX nodes it replaces
/// (Split, Reshape, Transpose, Softmax, Conv, Slice, Sub, Add, Div, Concat, Mul, Sigmoid, Concat), without their
/// passes over memory. A box value's thread works out the two sides it needs (a centre and a size both need the same
/// two), so that batch 1's 8,400 anchors still give the GPU 84 threads each: a thread per anchor took 43 µs there on
/// the H100, longer than the nodes it replaced (docs/results/2026-12-07-h100-boxes). y: [batch, 4 + classes, anchors].</summary>
public static class DistanceBoxKernel
{
    public static void Run(Index1D index, ArrayView<float> x, ArrayView<float> binWeights, ArrayView<float> anchors, ArrayView<float> strides,
        ArrayView<float> y, DistanceBoxShape s)
    {
        int a = index % s.Anchors, imageRow = index / s.Anchors, row = imageRow % s.OutputRows, n = imageRow / s.OutputRows;
        long image = (long)n * s.InputRows * s.Anchors + a;
        if (row >= 4)
        {
            y[index] = ElementwiseKernels.Apply(x[image + (4L * s.Bins + row - 4) * s.Anchors], new Activation(UnaryFunction.Sigmoid));
            return;
        }
        // Rows 0 and 2 (centre x, width) from left and right; 1 and 3 (centre y, height) from top and bottom.
        int axis = row % 2;
        float anchor = anchors[axis * s.Anchors + a];
        float low = anchor - Distance(x, binWeights, image, axis, s), high = anchor + Distance(x, binWeights, image, axis + 2, s);
        y[index] = (row < 2 ? (low + high) / 2f : high - low) * strides[a];
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
