using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

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
/// applies an activation (a Concat's, where the output is written into it in place). <see cref="Run"/> computes an
/// output a thread; <see cref="RunSpans"/> <see cref="Span"/> adjacent ones, sharing the row's source lines and index
/// arithmetic and storing them as one 16-byte store (CenterNet's 64 → 128 upsampling at batch 32 took 0.32 ms a thread
/// an output on the H100, its integer divisions more than its bytes). Both compute each output the same way.</summary>
public static class ResizeKernel
{
    /// <summary>Adjacent outputs of a row <see cref="RunSpans"/> computes a thread.</summary>
    public const int Span = 4;

    /// <summary>Whether <see cref="RunSpans"/> takes g: rows and images of whole spans (y itself must be 16-byte aligned).</summary>
    public static bool SpansFit(ResizeGeometry g) => g.OutWidth % Span == 0 && g.OutImageStride % Span == 0;

    public static void Run(Index1D i, ArrayView<float> x, ArrayView<float> y, ResizeGeometry g, Activation activation)
    {
        int ox = i % g.OutWidth, t = i / g.OutWidth;
        int oy = t % g.OutHeight, plane = t / g.OutHeight;
        var row = SourceRows.Of(g, plane, oy);
        y[OutputAt(g, plane, oy, ox)] = ElementwiseKernels.ApplyFused(row.Value(x, g, ox), activation);
    }

    /// <summary>A thread per <see cref="Span"/> outputs of a row (<see cref="SpansFit"/>).</summary>
    public static void RunSpans(Index1D i, ArrayView<float> x, ArrayView<float> y, ResizeGeometry g, Activation activation)
    {
        int spans = g.OutWidth / Span;
        int ox = i % spans * Span, t = i / spans;
        int oy = t % g.OutHeight, plane = t / g.OutHeight;
        var row = SourceRows.Of(g, plane, oy);
        var values = new Micro4 { C0 = row.Value(x, g, ox), C1 = row.Value(x, g, ox + 1), C2 = row.Value(x, g, ox + 2), C3 = row.Value(x, g, ox + 3) };
        y.AsAligned(16).Cast<Micro4>()[OutputAt(g, plane, oy, ox) / Span] = values.Activated(activation);
    }

    private static long OutputAt(ResizeGeometry g, int plane, int oy, int ox) => g.OutImageStride == 0
        ? ((long)plane * g.OutHeight + oy) * g.OutWidth + ox
        : (long)(plane / g.PlanesPerImage) * g.OutImageStride + ((long)(plane % g.PlanesPerImage) * g.OutHeight + oy) * g.OutWidth + ox;

    /// <summary>The source lines an output row reads (nearest: one; bilinear: two and the weight between them).</summary>
    private readonly struct SourceRows(int first, int second, float weight)
    {
        public static SourceRows Of(ResizeGeometry g, int plane, int oy)
        {
            int baseIndex = plane * g.InHeight * g.InWidth;
            float sy = Source(oy, g.ScaleY, g.InHeight, g.OutHeight, g.Coordinates);
            if (g.Linear == 0) return new SourceRows(baseIndex + Clamp(Round(sy, g.Rounding), g.InHeight) * g.InWidth, 0, 0f);
            sy = XMath.Clamp(sy, 0f, g.InHeight - 1);
            int y0 = (int)sy, y1 = y0 + 1 < g.InHeight ? y0 + 1 : y0;
            return new SourceRows(baseIndex + y0 * g.InWidth, baseIndex + y1 * g.InWidth, sy - y0);
        }

        public float Value(ArrayView<float> x, ResizeGeometry g, int ox)
        {
            float sx = Source(ox, g.ScaleX, g.InWidth, g.OutWidth, g.Coordinates);
            if (g.Linear == 0) return x[first + Clamp(Round(sx, g.Rounding), g.InWidth)];
            sx = XMath.Clamp(sx, 0f, g.InWidth - 1);
            int x0 = (int)sx, x1 = x0 + 1 < g.InWidth ? x0 + 1 : x0;
            float fx = sx - x0;
            float top = x[first + x0] * (1 - fx) + x[first + x1] * fx;
            float bottom = x[second + x0] * (1 - fx) + x[second + x1] * fx;
            return top * (1 - weight) + bottom * weight;
        }
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
