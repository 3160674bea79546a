using MoeDetect.Conversion.Onnx;
using Onnx;

namespace MoeDetect.Conversion.Tfjs;

/// <summary>
/// Convolutions, pooling and resizing: the ops whose meaning depends on layout. TF's NHWC tensors are transposed to
/// ONNX's NCHW around each of them; ONNX Runtime's transpose optimizer cancels the back-to-back pairs at load time.
/// </summary>
internal static class SpatialOps
{
    public static readonly Dictionary<string, OpTranslator> Translators = new()
    {
        ["Conv2D"] = (n, s) => Convolution(n, s, depthwise: false),
        ["_FusedConv2D"] = (n, s) => Convolution(n, s, depthwise: false),
        ["DepthwiseConv2dNative"] = (n, s) => Convolution(n, s, depthwise: true),
        ["FusedDepthwiseConv2dNative"] = (n, s) => Convolution(n, s, depthwise: true),
        ["MaxPool"] = (n, s) => Pool(n, s, "MaxPool"),
        ["AvgPool"] = (n, s) => Pool(n, s, "AveragePool"),
        ["ResizeBilinear"] = (n, s) => Resize(n, s, bilinear: true),
        ["ResizeNearestNeighbor"] = (n, s) => Resize(n, s, bilinear: false),
    };

    private static void Convolution(TfjsNode node, TranslationScope s, bool depthwise)
    {
        var nhwc = IsNhwc(node);
        var filter = s.RequireConstant(node, 1, "filter");
        if (filter.Shape.Length != 4 || filter.Floats is null)
            throw new ModelConversionException($"{node}: expected a float filter of rank 4, got [{string.Join(",", filter.Shape)}].");
        var (kh, kw, cin, cout) = (filter.Shape[0], filter.Shape[1], filter.Shape[2], filter.Shape[3]);
        var weights = depthwise ? DepthwiseWeights(filter.Floats, kh, kw, cin, cout) : ConvWeights(filter.Floats, kh, kw, cin, cout);
        long[] weightDims = depthwise ? [cin * cout, 1, kh, kw] : [cout, cin, kh, kw];

        var fused = node.Strings("fused_ops");
        var inputs = new List<string> { ToNchwIf(nhwc, s.Input(node, 0), s, node), s.Onnx.Floats($"{node.Name}/weights", weights, weightDims) };
        if (fused.Length > 0)
        {
            if (fused[0] != "BiasAdd")
                throw new ModelConversionException($"{node}: fused op '{fused[0]}' is not supported; only BiasAdd followed by an activation is.");
            inputs.Add(s.Input(node, 2));
        }
        var attributes = new List<AttributeProto>
        {
            Attr.Ints("kernel_shape", [kh, kw]),
            Attr.Ints("strides", Spatial(node.Ints("strides"), nhwc)),
            Attr.Ints("dilations", Spatial(node.Ints("dilations"), nhwc)),
            Attr.Int("group", depthwise ? cin : 1),
        };
        attributes.AddRange(Padding(node, nhwc));
        var y = s.Onnx.Node("Conv", inputs, node.Name, [.. attributes]);
        y = nhwc ? s.ToNhwc(y, node.Name) : y;
        foreach (var activation in fused.Skip(1))
        {
            var slope = activation == "Prelu" ? s.Input(node, 3) : null;
            y = Activations.Apply(activation, node, s, y, node.Float("leakyrelu_alpha", 0.2f), slope);
        }
        s.Bind(node, y);
    }

    /// <summary>TF [kh, kw, cin, cout] → ONNX [cout, cin, kh, kw].</summary>
    private static float[] ConvWeights(float[] f, int kh, int kw, int cin, int cout)
    {
        var w = new float[f.Length];
        for (var y = 0; y < kh; y++)
            for (var x = 0; x < kw; x++)
                for (var i = 0; i < cin; i++)
                    for (var o = 0; o < cout; o++)
                        w[((o * cin + i) * kh + y) * kw + x] = f[((y * kw + x) * cin + i) * cout + o];
        return w;
    }

    /// <summary>TF [kh, kw, cin, multiplier] → ONNX [cin·multiplier, 1, kh, kw]; TF's output channel is c·multiplier + m.</summary>
    private static float[] DepthwiseWeights(float[] f, int kh, int kw, int cin, int multiplier) =>
        ConvWeights(f, kh, kw, 1, cin * multiplier);

    private static void Pool(TfjsNode node, TranslationScope s, string onnxOp)
    {
        var nhwc = IsNhwc(node);
        var x = ToNchwIf(nhwc, s.Input(node, 0), s, node);
        var y = s.Onnx.Node(onnxOp, [x], node.Name,
            [Attr.Ints("kernel_shape", Spatial(node.Ints("ksize"), nhwc)), Attr.Ints("strides", Spatial(node.Ints("strides"), nhwc)), .. Padding(node, nhwc)]);
        s.Bind(node, nhwc ? s.ToNhwc(y, node.Name) : y);
    }

    private static void Resize(TfjsNode node, TranslationScope s, bool bilinear)
    {
        var size = s.RequireConstant(node, 1, "output size").AsLongs();
        var alignCorners = node.Bool("align_corners", false);
        var halfPixel = node.Bool("half_pixel_centers", false);
        // TF's three coordinate conventions map one-to-one onto ONNX's; nearest rounds the way TF's kernel does.
        var transform = alignCorners ? "align_corners" : halfPixel ? (bilinear ? "half_pixel" : "tf_half_pixel_for_nn") : "asymmetric";
        var nearestMode = alignCorners ? "round_prefer_ceil" : "floor";

        var x = s.ToNchw(s.Input(node, 0), node.Name);
        var batchAndChannels = s.Onnx.Node("Shape", [x], $"{node.Name}/nc", Attr.Int("start", 0), Attr.Int("end", 2));
        var sizes = s.Onnx.Node("Concat", [batchAndChannels, s.Int64s(node, "hw", size)], $"{node.Name}/sizes", Attr.Int("axis", 0));
        AttributeProto[] attributes = bilinear
            ? [Attr.String("mode", "linear"), Attr.String("coordinate_transformation_mode", transform)]
            : [Attr.String("mode", "nearest"), Attr.String("coordinate_transformation_mode", transform), Attr.String("nearest_mode", nearestMode)];
        var y = s.Onnx.Node("Resize", [x, "", "", sizes], node.Name, attributes);
        s.Bind(node, s.ToNhwc(y, node.Name));
    }

    private static bool IsNhwc(TfjsNode node) => (node.String("data_format") ?? "NHWC") switch
    {
        "NHWC" => true,
        "NCHW" => false,
        var other => throw new ModelConversionException($"{node}: data_format '{other}' is not supported (NHWC or NCHW)."),
    };

    private static string ToNchwIf(bool nhwc, string x, TranslationScope s, TfjsNode node) => nhwc ? s.ToNchw(x, node.Name) : x;

    /// <summary>The (h, w) entries of a TF 4-vector given in the node's data format; [1,1] when absent.</summary>
    private static long[] Spatial(long[] values, bool nhwc) =>
        values.Length == 4 ? (nhwc ? [values[1], values[2]] : [values[2], values[3]]) : [1, 1];

    private static AttributeProto[] Padding(TfjsNode node, bool nhwc)
    {
        switch (node.String("padding") ?? "VALID")
        {
            case "SAME":
                return [Attr.String("auto_pad", "SAME_UPPER")]; // TF puts the odd pixel at the end, as SAME_UPPER does
            case "VALID":
                return [Attr.String("auto_pad", "VALID")];
            case "EXPLICIT":
                var e = node.Ints("explicit_paddings"); // (before, after) per dim, in data-format order
                var (h, w) = nhwc ? (1, 2) : (2, 3);
                return [Attr.Ints("pads", [e[2 * h], e[2 * w], e[2 * h + 1], e[2 * w + 1]])];
            case var other:
                throw new ModelConversionException($"{node}: padding '{other}' is not supported.");
        }
    }
}
