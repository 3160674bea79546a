using ILGPU;
using ILGPU.Algorithms;

namespace MoeDetect.Kernels.Tensors;

/// <summary>ONNX Resize coordinate_transformation_mode values supported.</summary>
public enum ResizeCoordinates { HalfPixel, PytorchHalfPixel, AlignCorners, Asymmetric, TfHalfPixelForNearest }

/// <summary>ONNX Resize nearest_mode values.</summary>
public enum NearestRounding { RoundPreferFloor, RoundPreferCeil, Floor, Ceil }

public struct ResizeGeometry
{
    public int Planes, InHeight, InWidth, OutHeight, OutWidth;
    /// <summary>Output/input scale per axis as the graph states it (used by the half-pixel and asymmetric modes).</summary>
    public float ScaleY, ScaleX;
    public ResizeCoordinates Coordinates;
    public NearestRounding Rounding;
    public int Linear;
    /// <summary>Where y is a slice of a larger tensor (a Concat's output, written in place): values between its images,
    /// and planes per image; 0 and anything: y is [planes, H, W] itself.</summary>
    public int OutImageStride, PlanesPerImage;
}

/// <summary>Resizes the two innermost axes of [planes, H, W], nearest or bilinear, with ONNX's coordinate modes, and
/// applies an activation (a Concat's, where the output is written into it in place).</summary>
public static class ResizeKernel
{
    public static void Run(Index1D i, ArrayView<float> x, ArrayView<float> y, ResizeGeometry g, Activation activation)
    {
        int ox = i % g.OutWidth, t = i / g.OutWidth;
        int oy = t % g.OutHeight, plane = t / g.OutHeight;
        long at = g.OutImageStride == 0 ? i
            : (long)(plane / g.PlanesPerImage) * g.OutImageStride + ((long)(plane % g.PlanesPerImage) * g.OutHeight + oy) * g.OutWidth + ox;
        float sy = Source(oy, g.ScaleY, g.InHeight, g.OutHeight, g.Coordinates);
        float sx = Source(ox, g.ScaleX, g.InWidth, g.OutWidth, g.Coordinates);
        int baseIndex = plane * g.InHeight * g.InWidth;
        if (g.Linear == 0)
        {
            int ny = Clamp(Round(sy, g.Rounding), g.InHeight), nx = Clamp(Round(sx, g.Rounding), g.InWidth);
            y[at] = ElementwiseKernels.Apply(x[baseIndex + ny * g.InWidth + nx], activation);
            return;
        }
        sy = XMath.Clamp(sy, 0f, g.InHeight - 1);
        sx = XMath.Clamp(sx, 0f, g.InWidth - 1);
        int y0 = (int)sy, x0 = (int)sx;
        int y1 = y0 + 1 < g.InHeight ? y0 + 1 : y0, x1 = x0 + 1 < g.InWidth ? x0 + 1 : x0;
        float fy = sy - y0, fx = sx - x0;
        float top = x[baseIndex + y0 * g.InWidth + x0] * (1 - fx) + x[baseIndex + y0 * g.InWidth + x1] * fx;
        float bottom = x[baseIndex + y1 * g.InWidth + x0] * (1 - fx) + x[baseIndex + y1 * g.InWidth + x1] * fx;
        y[at] = ElementwiseKernels.Apply(top * (1 - fy) + bottom * fy, activation);
    }

    private static float Source(int o, float scale, int inSize, int outSize, ResizeCoordinates mode) => mode switch
    {
        ResizeCoordinates.HalfPixel => (o + 0.5f) / scale - 0.5f,
        ResizeCoordinates.PytorchHalfPixel => outSize > 1 ? (o + 0.5f) / scale - 0.5f : 0f,
        ResizeCoordinates.AlignCorners => outSize > 1 ? o * (float)(inSize - 1) / (outSize - 1) : 0f,
        ResizeCoordinates.TfHalfPixelForNearest => (o + 0.5f) / scale,
        _ => o / scale,
    };

    private static int Round(float v, NearestRounding mode) => mode switch
    {
        NearestRounding.Floor => (int)XMath.Floor(v),
        NearestRounding.Ceil => (int)XMath.Ceiling(v),
        NearestRounding.RoundPreferCeil => (int)XMath.Floor(v + 0.5f),
        _ => (int)XMath.Ceiling(v - 0.5f),
    };

    private static int Clamp(int v, int size) => v < 0 ? 0 : v >= size ? size - 1 : v;
}
