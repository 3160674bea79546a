namespace MoeDetect.Tests.Conversion;

/// <summary>Plain loops that compute TF's NHWC ops (batch 1) as TensorFlow defines them: the expected values of the tests.</summary>
internal static class NhwcReference
{
    /// <summary>TF "SAME": out = ceil(in / stride), the odd padding pixel at the end.</summary>
    public static (int Out, int PadBefore) Same(int size, int kernel, int stride)
    {
        var output = (size + stride - 1) / stride;
        var total = Math.Max((output - 1) * stride + kernel - size, 0);
        return (output, total / 2);
    }

    /// <summary>Conv2D (filter [kh, kw, cin, cout]) or DepthwiseConv2dNative (filter [kh, kw, cin, m]), SAME padding, plus bias.</summary>
    public static float[] Convolution(float[] x, int h, int w, int c, float[] filter, int kh, int kw, int outPerGroup, int stride,
        bool depthwise, float[] bias, out int oh, out int ow)
    {
        var (outH, padTop) = Same(h, kh, stride);
        var (outW, padLeft) = Same(w, kw, stride);
        var cout = depthwise ? c * outPerGroup : outPerGroup;
        var y = new float[outH * outW * cout];
        for (var oy = 0; oy < outH; oy++)
            for (var ox = 0; ox < outW; ox++)
                for (var o = 0; o < cout; o++)
                {
                    double sum = bias[o];
                    for (var ky = 0; ky < kh; ky++)
                        for (var kx = 0; kx < kw; kx++)
                        {
                            int iy = oy * stride + ky - padTop, ix = ox * stride + kx - padLeft;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                continue;
                            if (depthwise)
                            {
                                int ci = o / outPerGroup, m = o % outPerGroup;
                                sum += x[(iy * w + ix) * c + ci] * filter[((ky * kw + kx) * c + ci) * outPerGroup + m];
                            }
                            else
                                for (var ci = 0; ci < c; ci++)
                                    sum += x[(iy * w + ix) * c + ci] * filter[((ky * kw + kx) * c + ci) * cout + o];
                        }
                    y[(oy * outW + ox) * cout + o] = (float)sum;
                }
        (oh, ow) = (outH, outW);
        return y;
    }

    /// <summary>MaxPool with SAME padding (padding never wins).</summary>
    public static float[] MaxPool(float[] x, int h, int w, int c, int k, int stride, out int oh, out int ow)
    {
        var (outH, padTop) = Same(h, k, stride);
        var (outW, padLeft) = Same(w, k, stride);
        var y = new float[outH * outW * c];
        for (var oy = 0; oy < outH; oy++)
            for (var ox = 0; ox < outW; ox++)
                for (var ci = 0; ci < c; ci++)
                {
                    var max = float.NegativeInfinity;
                    for (var ky = 0; ky < k; ky++)
                        for (var kx = 0; kx < k; kx++)
                        {
                            int iy = oy * stride + ky - padTop, ix = ox * stride + kx - padLeft;
                            if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                                max = Math.Max(max, x[(iy * w + ix) * c + ci]);
                        }
                    y[(oy * outW + ox) * c + ci] = max;
                }
        (oh, ow) = (outH, outW);
        return y;
    }

    /// <summary>tf.image.resize_bilinear with its align_corners / half_pixel_centers conventions (TF's kernel, clamped edges).</summary>
    public static float[] ResizeBilinear(float[] x, int h, int w, int c, int oh, int ow, bool alignCorners, bool halfPixel)
    {
        var y = new float[oh * ow * c];
        for (var oy = 0; oy < oh; oy++)
        {
            var (y0, y1, fy) = Source(oy, h, oh, alignCorners, halfPixel);
            for (var ox = 0; ox < ow; ox++)
            {
                var (x0, x1, fx) = Source(ox, w, ow, alignCorners, halfPixel);
                for (var ci = 0; ci < c; ci++)
                {
                    float At(int yy, int xx) => x[(yy * w + xx) * c + ci];
                    var top = At(y0, x0) + (At(y0, x1) - At(y0, x0)) * fx;
                    var bottom = At(y1, x0) + (At(y1, x1) - At(y1, x0)) * fx;
                    y[(oy * ow + ox) * c + ci] = top + (bottom - top) * fy;
                }
            }
        }
        return y;
    }

    private static (int Lower, int Upper, float Lerp) Source(int o, int size, int outSize, bool alignCorners, bool halfPixel)
    {
        var scale = alignCorners && outSize > 1 ? (size - 1) / (float)(outSize - 1) : size / (float)outSize;
        var at = halfPixel ? (o + 0.5f) * scale - 0.5f : o * scale;
        var floor = MathF.Floor(at);
        return (Math.Max((int)floor, 0), Math.Min((int)MathF.Ceiling(at), size - 1), at - floor);
    }
}
