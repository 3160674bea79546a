using ILGPU;
using ILGPU.Runtime;
using MoeDetect.Kernels.Tensors;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Conv, pooling and BatchNormalization (NCHW, 2-D), and the fused detection-head nodes.</summary>
internal sealed partial class OperatorCompiler
{
    private readonly Dictionary<(string, string), DeviceTensor> _gatedProducts = new();

    private void Convolution()
    {
        var (x, scale) = ConvolutionData();
        var w = DeviceInput(1);
        if (x.Shape.Length != 4 || w.Shape.Length != 4) throw Invalid("only 2-D convolutions (4-D input and weights) are supported");
        int groups = (int)_node.Int("group", 1);
        if (w.Shape[1] * groups != x.Shape[1])
            throw Invalid($"weights [{string.Join(",", w.Shape)}] with group {groups} do not match {x.Shape[1]} input channels");
        var g = Window(x.Shape, w.Shape[2], w.Shape[3], w.Shape[0], groups);
        var path = _kernels.PlanPath(g, scalesInput: scale is not null);
        // The pointwise GEMM and the depthwise kernel apply an input scale; other paths (the implicit GEMM too) get the product first.
        bool depthwise = ConvolutionPaths.IsDepthwise(path);
        if (scale is not null && !depthwise && path != ConvolutionPath.Pointwise) (x, scale) = (GatedProduct(x, scale), null);
        if (scale is not null && depthwise) g = g with { ScalesInput = 1, ScaleImageStride = scale.Shape[0] == 1 ? 0 : g.Channels };
        var bias = _node.Input(2) is { } b ? Device(Get(b), b) : _constants.Upload($"zeros/{w.Shape[0]}", new HostTensor(new double[w.Shape[0]], [w.Shape[0]], false));
        var activation = _node.Fused;
        bool gemm = path is ConvolutionPath.Pointwise or ConvolutionPath.ImplicitGemm, staged = path == ConvolutionPath.StagedWeights;
        // The GEMMs and the staged-weights kernel read x where it lies (images apart by its image stride, read as the
        // plan runs); the other kernels a contiguous copy of a strided x.
        if ((gemm || staged) && _node.Input(4) is null) NoteInPlaceRead(_node.Inputs[0]);
        else if (x.IsStrided) x = Device(Get(0));
        // Their epilogue can store into a Concat's output in place, and add a residual.
        var placement = gemm || staged ? new OutputPlacement(activation) : null;
        var y = NewTensor([g.Batch, g.OutChannels, g.OutHeight, g.OutWidth], placement: placement);
        var kernels = _kernels;
        kernels.PlannedConvolutions?.Add(g);
        // A residual Add fused at load (GraphFusion) goes into the GEMM's epilogue when its shape is the output's.
        Value? residual = _node.Input(3) is not null ? GetInPlace(3) : (Value?)null;
        var fused = residual is { Device: { } r } && (gemm || staged) && r.Shape.SequenceEqual(y.Shape) ? r : null;
        if (fused is not null) NoteInPlaceRead(_node.Inputs[3]);
        string detail = $"{g.Channels}→{g.OutChannels}, {g.KernelHeight}×{g.KernelWidth}/{g.StrideY}, {g.OutHeight}×{g.OutWidth}, batch {g.Batch}{(scale is null ? "" : ", input scaled")}";
        if (gemm)
        {
            var p = kernels.PlanPointwise(ConvolutionPaths.Gemm(path, g) with
            {
                AddsResidual = fused is null ? 0 : 1, ScalesInput = scale is null ? 0 : 1, ScaleImageStride = scale?.Shape[0] == 1 ? 0 : g.Channels,
            });
            if (p.TapMajor != 0) (p, w) = TapMajor(p, w, g);
            if (p.TensorCores == TensorCorePrecision.Fp16RowSegments) (p, w) = RowSegments(p, w, g);
            // Scaled weights and split-K partials: plan memory, live for this step only (a launch never allocates: plans are
            // captured into CUDA graphs).
            var workspace = p.WorkspaceLength > 0 ? NewTensor([checked((int)p.WorkspaceLength)]) : null;
            if (p.Tiling != default) detail += $", tiles {p.Tiling.TileChannels}×{p.Tiling.TilePixels}{p.TensorCores switch { TensorCorePrecision.Fp16 => " on tensor cores (FP16)", TensorCorePrecision.Fp16RowSegments => " on tensor cores (FP16, row segments)", 0 => "", _ => " on tensor cores" }}{(p.TapMajor != 0 ? ", tap-major" : "")}";
            if (p.Slices > 1) detail += $", split-K {p.Slices} × {p.SliceChannels}";
            // Image strides are read as the plan runs: a Concat compiled later may still place x's whole, the residual's or y.
            EmitKind(path.ToString().ToLowerInvariant(), detail, ConvolutionPaths.Flops(g), () => kernels.PointwiseConvolution(x.StridedView, (scale ?? x).View, w.View, bias.View,
                (fused ?? y).StridedView, (workspace ?? y).View, placement!.View(y), p with
                {
                    OutImageStride = placement.ImageStride, InImageStride = x.ImageStride, ResidualImageStride = (fused ?? y).ImageStride,
                }, placement.Activation),
                new[] { x, w, bias, y, scale, fused, workspace }.OfType<DeviceTensor>().ToArray());
        }
        else if (staged)
            EmitKind("stagedweights", detail, ConvolutionPaths.Flops(g), () => kernels.StagedWeightsConvolution(x.StridedView, w.View, bias.View,
                (fused ?? y).StridedView, placement!.View(y), g, new ImageStrides
                {
                    Input = x.ImageStride, Output = placement.ImageStride, Residual = (fused ?? y).ImageStride, AddsResidual = fused is null ? 0 : 1,
                }, placement.Activation),
                new[] { x, w, bias, y, fused }.OfType<DeviceTensor>().ToArray());
        else
            EmitKind(path.ToString().ToLowerInvariant(), detail, ConvolutionPaths.Flops(g), () => ConvolutionPaths.Launch(kernels, path, x.View, (scale ?? x).View, w.View, bias.View, y.View, g, activation),
                new[] { x, w, bias, y, scale }.OfType<DeviceTensor>().ToArray());
        Set(0, residual is not null && fused is null ? BinaryValue(y, Get(3), BinaryOperator.Add) : y);
    }

    /// <summary>A tap-major GEMM's weights (<see cref="PointwiseGeometry.TapMajor"/>), reordered once per engine; weights
    /// that are no constant (computed from the image) keep the GEMM channel-major.</summary>
    private (PointwiseGeometry, DeviceTensor) TapMajor(PointwiseGeometry p, DeviceTensor w, WindowGeometry g)
    {
        if (Get(1).Host is not { } host) return (p with { TapMajor = 0 }, w);
        var permuted = TapMajorWeights.From<double>(host.Data, g.OutChannels, g.Channels, g.KernelHeight * g.KernelWidth);
        return (p, _constants.Upload($"{_node.Inputs[1]} (tap-major)", new HostTensor(permuted, host.Shape, host.IsInteger)));
    }

    /// <summary>The row-segment GEMM's weights (<see cref="RowSegmentWeights"/>: FP16, [out channels, kernel row, channels,
    /// kernel column]), made once per engine; weights that are no constant keep the layer on the FP16 GEMM channel-major.</summary>
    private (PointwiseGeometry, DeviceTensor) RowSegments(PointwiseGeometry p, DeviceTensor w, WindowGeometry g)
    {
        if (Get(1).Host is not { } host) return (_kernels.PlanTensorCores(p, p.Tiling, TensorCorePrecision.Fp16) with { TapMajor = 0 }, w);
        return (p, _constants.UploadWords($"{_node.Inputs[1]} (FP16 row segments)", RowSegmentWeights.From(host.Data, g.OutChannels, g.Channels)));
    }

    /// <summary>The Conv's data, and the per-channel scale [N or 1, C, 1, 1] of a squeeze-excite Mul fused into it at
    /// load (input 4, <see cref="GraphFusion"/>): whichever of the Mul's operands has that shape against the other.
    /// Operands of other shapes are multiplied first.</summary>
    private (DeviceTensor X, DeviceTensor? Scale) ConvolutionData()
    {
        if (_node.Input(4) is not { } other) return (Device(GetInPlace(0), _node.Input(0)), null);
        Value a = Get(0), b = Get(other);
        if (a.Device is { } ta && b.Device is { } tb)
        {
            if (IsChannelScale(tb.Shape, ta.Shape)) return (ta, tb);
            if (IsChannelScale(ta.Shape, tb.Shape)) return (tb, ta);
        }
        return (GatedProduct(a, b), null);
    }

    /// <summary>a·b of a Mul fused into Convs at load (inputs 0 and 4), for a Conv that cannot apply it as a scale:
    /// computed by the first such Conv and reused by the others that read the same product.</summary>
    private DeviceTensor GatedProduct(Value a, Value b)
    {
        var key = (_node.Inputs[0], _node.Inputs[4]);
        if (!_gatedProducts.TryGetValue(key, out var product))
            _gatedProducts[key] = product = Device(BinaryValue(a, b, BinaryOperator.Mul));
        return product;
    }

    private static bool IsChannelScale(int[] scale, int[] data) =>
        data.Length == 4 && scale is [var n, var c, 1, 1] && (n == 1 || n == data[0]) && c == data[1];

    private void Pool(PoolMode mode)
    {
        var x = DeviceInput(0);
        var kernel = _node.Ints("kernel_shape") ?? throw Invalid("kernel_shape is missing");
        if (x.Shape.Length != 4 || kernel.Length != 2) throw Invalid("only 2-D pooling is supported");
        if (_node.Outputs.Count > 1 && _node.Outputs[1].Length > 0) throw Invalid("the Indices output is not supported");
        var g = Window(x.Shape, (int)kernel[0], (int)kernel[1], x.Shape[1], 1);
        var y = NewTensor([g.Batch, g.Channels, g.OutHeight, g.OutWidth]);
        var pool = _kernels.Pool;
        Emit(() => pool(y.Length, x.View, y.View, g, mode), x, y);
        Set(0, y);
    }

    /// <summary><see cref="PeakFusion.Peaks"/>: the peak test of CenterNet's heatmap in one pass, NCHW or NHWC out.</summary>
    private void Peaks()
    {
        var x = DeviceInput(0);
        var kernel = _node.Ints("kernel_shape")!;
        if (x.Shape.Length != 4) throw Invalid("the peak test needs a 4-D input");
        var g = Window(x.Shape, (int)kernel[0], (int)kernel[1], x.Shape[1], 1);
        bool channelsLast = _node.Int(PeakFusion.ChannelsLast, 0) == 1;
        var y = NewTensor(channelsLast ? [g.Batch, g.Height, g.Width, g.Channels] : x.Shape);
        var kernels = _kernels;
        if (channelsLast) Emit(() => kernels.PeaksChannelsLast(x.View, y.View, g), x, y);
        else
        {
            var peaks = kernels.Peaks;
            Emit(() => peaks(y.Length, x.View, y.View, g), x, y);
        }
        Set(0, y);
    }

    /// <summary><see cref="DistanceBoxFusion.Boxes"/>: YOLOv8's head decode, [N, 4 · bins + classes, anchors] → [N, 4 +
    /// classes, anchors], in one pass.</summary>
    private void DistanceBoxes()
    {
        var x = DeviceInput(0);
        int bins = (int)_node.Int(DistanceBoxFusion.Bins, 0);
        if (x.Shape is not [var batch, var rows, var anchors] || rows <= 4 * bins)
            throw Invalid($"the head's output [{string.Join(",", x.Shape)}] is not [N, 4 × {bins} box bins + classes, anchors]");
        var (weights, anchorPoints, strides) = (DeviceInput(1), DeviceInput(2), DeviceInput(3));
        if (anchorPoints.Length != 2 * anchors || strides.Length != anchors)
            throw Invalid($"{anchorPoints.Length / 2} anchor points and {strides.Length} strides for a head of {anchors} anchors");
        var s = new DistanceBoxShape(batch, bins, rows - 4 * bins, anchors);
        var y = NewTensor([batch, s.OutputRows, anchors]);
        var kernels = _kernels;
        Emit(() => kernels.DistanceBoxes(x.View, weights.View, anchorPoints.View, strides.View, y.View, s), x, weights, anchorPoints, strides, y);
        Set(0, y);
    }

    private void GlobalPool(ReduceMode mode)
    {
        var x = DeviceInput(0);
        int[] shape = [x.Shape[0], x.Shape[1], .. Enumerable.Repeat(1, x.Shape.Length - 2)];
        Set(0, ReduceBlock(x, shape, 2, x.Shape.Length, mode));
    }

    /// <summary><see cref="SqueezeFusion.SqueezeMlp"/>: mean over H and W, then two dense layers, in one launch. The
    /// layers' parameters are packed and uploaded once per engine; the means scratch and the per-image arrival counts
    /// are the plan's own, since each run must find the counts zero as the last one left them.</summary>
    private void Squeeze()
    {
        var x = DeviceInput(0);
        if (x.Shape.Length != 4) throw Invalid("the squeeze needs a 4-D input");
        HostTensor w1 = HostInput(1), w2 = HostInput(3);
        int channels = x.Shape[1], hidden = w1.Shape[0], outputs = w2.Shape[0], batch = x.Shape[0];
        if (w1.Shape[1] != channels || w2.Shape[1] != hidden)
            throw Invalid($"weights [{string.Join(",", w1.Shape)}] and [{string.Join(",", w2.Shape)}] do not chain from {channels} channels");
        int threads = _kernels.SqueezeGroupSize, pixels = x.Shape[2] * x.Shape[3];
        int lanes = SqueezeKernel.LanesFor(pixels, threads);
        var s = new SqueezeShape
        {
            Batch = batch, Channels = channels, Pixels = pixels, Hidden = hidden, Outputs = outputs, Lanes = lanes,
            GroupsPerImage = (channels + threads / lanes - 1) / (threads / lanes),
        };
        var parameters = _constants.Upload($"{_node.Name} (squeeze parameters)", new HostTensor(SqueezeParameters(s, w1, w2), [s.ParameterCount], false));
        var scratch = Own((long)batch * channels + batch).View;
        scratch.MemSetToZero(_kernels.Stream);
        var y = NewTensor([batch, outputs, 1, 1]);
        var kernels = _kernels;
        Activation first = SqueezeFusion.HiddenActivation(_node), second = _node.Fused;
        var means = scratch.SubView(0, (long)batch * channels);
        var arrivals = scratch.SubView((long)batch * channels, batch).Cast<int>();
        Append(new PlanStep(() => kernels.Squeeze(x.View, parameters.View, y.View, means, arrivals, s, first, second), _node.OpType,
            $"{_node.Name} ({channels}→{hidden}→{outputs}, {x.Shape[2]}×{x.Shape[3]}, batch {batch})"), [x, parameters, y]);
        Set(0, y);
    }

    /// <summary>W1 transposed, b1, W2 transposed, b2 (zeros for a missing bias), as <see cref="SqueezeShape"/> lays them out.</summary>
    private double[] SqueezeParameters(SqueezeShape s, HostTensor w1, HostTensor w2)
    {
        var packed = new double[s.ParameterCount];
        for (int h = 0; h < s.Hidden; h++)
            for (int c = 0; c < s.Channels; c++) packed[c * s.Hidden + h] = w1.Data[h * s.Channels + c];
        for (int o = 0; o < s.Outputs; o++)
            for (int h = 0; h < s.Hidden; h++) packed[s.SecondWeights + h * s.Outputs + o] = w2.Data[o * s.Hidden + h];
        if (_node.Input(2) is not null) HostInput(2).Data.CopyTo(packed, s.FirstBias);
        if (_node.Input(4) is not null) HostInput(4).Data.CopyTo(packed, s.SecondBias);
        return packed;
    }

    private void BatchNormalization()
    {
        if (!_node.Inputs.Skip(1).Take(4).All(_graph.Constants.ContainsKey)) throw Invalid("scale, bias, mean and variance must be constants");
        var x = Get(0);
        var (scale, shift) = GraphFusion.BatchNormAffine(_graph, _node);
        int[] channelShape = [scale.Length, .. Enumerable.Repeat(1, x.Shape.Length - 2)];
        var scaled = BinaryValue(x, new HostTensor(scale, channelShape, false), BinaryOperator.Mul);
        Set(0, BinaryValue(scaled, new HostTensor(shift, channelShape, false), BinaryOperator.Add));
    }

    /// <summary>Window geometry from the node's strides, dilations, pads / auto_pad and ceil_mode.</summary>
    private WindowGeometry Window(int[] x, int kh, int kw, int outChannels, int groups)
    {
        var strides = _node.Ints("strides") ?? [1, 1];
        var dilations = _node.Ints("dilations") ?? [1, 1];
        var pads = _node.Ints("pads") ?? [0, 0, 0, 0];
        string autoPad = _node.Text("auto_pad", "NOTSET");
        bool ceil = _node.Int("ceil_mode", 0) != 0;
        var (oh, top) = Extent(x[2], kh, (int)strides[0], (int)dilations[0], (int)pads[0], (int)pads[2], autoPad, ceil);
        var (ow, left) = Extent(x[3], kw, (int)strides[1], (int)dilations[1], (int)pads[1], (int)pads[3], autoPad, ceil);
        return new WindowGeometry
        {
            Batch = x[0], Channels = x[1], Height = x[2], Width = x[3], OutChannels = outChannels, OutHeight = oh, OutWidth = ow,
            KernelHeight = kh, KernelWidth = kw, StrideY = (int)strides[0], StrideX = (int)strides[1], PadTop = top, PadLeft = left,
            DilationY = (int)dilations[0], DilationX = (int)dilations[1], Groups = groups,
        };
    }

    private static (int Out, int PadBegin) Extent(int size, int kernel, int stride, int dilation, int padBegin, int padEnd, string autoPad, bool ceil)
    {
        int effective = (kernel - 1) * dilation + 1;
        if (autoPad is "SAME_UPPER" or "SAME_LOWER")
        {
            int outSize = (size + stride - 1) / stride;
            int total = Math.Max(0, (outSize - 1) * stride + effective - size);
            return (outSize, autoPad == "SAME_UPPER" ? total / 2 : total - total / 2);
        }
        if (autoPad == "VALID") padBegin = padEnd = 0;
        int span = size + padBegin + padEnd - effective;
        int count = (ceil ? (span + stride - 1) / stride : span / stride) + 1;
        // A window may not start in the end padding (the rule ONNX Runtime and PyTorch apply with ceil_mode).
        if (ceil && (count - 1) * stride >= size + padBegin) count--;
        return (count, padBegin);
    }
}
