using ILGPU;

namespace MoeDetect.Kernels.Tensors;

/// <summary>ONNX Pad in constant mode, one thread per output value: a value inside the input's window is copied,
/// the border gets <c>value</c>. <c>begin</c> holds each axis' leading pad (negative pads crop).</summary>
public static class PadKernel
{
    public static void Constant(Index1D i, ArrayView<float> x, ArrayView<float> y, Dims6 inputSizes, Dims6 outputSizes, Dims6 begin, float value)
    {
        int rest = i, offset = 0, stride = 1;
        bool inside = true;
        // Innermost axis first, as Dims6 is right-aligned.
        for (int axis = 5; axis >= 0; axis--)
        {
            int size = Get(outputSizes, axis), inputSize = Get(inputSizes, axis);
            int source = rest % size - Get(begin, axis);
            rest /= size;
            inside &= source >= 0 && source < inputSize;
            offset += source * stride;
            stride *= inputSize;
        }
        y[i] = inside ? x[offset] : value;
    }

    private static int Get(Dims6 d, int axis) => axis switch
    {
        0 => d.D0, 1 => d.D1, 2 => d.D2, 3 => d.D3, 4 => d.D4, _ => d.D5,
    };
}
