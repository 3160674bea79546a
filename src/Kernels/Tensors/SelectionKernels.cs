using ILGPU;

namespace MoeDetect.Kernels.Tensors;

/// <summary>Element selection by condition or by index, as in PyTorch exports of detection decoding (floor division
/// fixed up with Where, box rows picked with GatherElements).</summary>
public static class SelectionKernels
{
    /// <summary>ONNX Where with numpy broadcasting: y = condition ≠ 0 ? a : b, each input read through its strides.</summary>
    public static void Where(Index1D i, ArrayView<float> condition, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y,
        Dims6 sizes, Dims6 conditionStrides, Dims6 aStrides, Dims6 bStrides) =>
        y[i] = condition[Dims6.Offset(i, sizes, conditionStrides)] != 0
            ? a[Dims6.Offset(i, sizes, aStrides)]
            : b[Dims6.Offset(i, sizes, bStrides)];

    /// <summary>ONNX GatherElements: y has the indices' shape (<paramref name="sizes"/>); element i reads x at its own
    /// position, except along the axis, where it reads the index (exact float; negative counts from the end).
    /// <paramref name="xStrides"/> has the axis stride zeroed; it is passed as <paramref name="axisStride"/>.</summary>
    public static void GatherElements(Index1D i, ArrayView<float> x, ArrayView<float> indices, ArrayView<float> y,
        Dims6 sizes, Dims6 xStrides, int axisStride, int axisLength)
    {
        int index = (int)indices[i];
        if (index < 0) index += axisLength;
        y[i] = x[Dims6.Offset(i, sizes, xStrides) + index * axisStride];
    }
}
