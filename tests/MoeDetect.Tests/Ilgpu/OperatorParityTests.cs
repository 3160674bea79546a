using Xunit;
using MoeDetect.Model;
using MoeDetect.Model.Ilgpu;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>Each operator family of the ILGPU engine against ONNX Runtime (CPU) on tiny graphs, batch 2,
/// run on ILGPU's CPU accelerator. Bounds are FP32 summation-order noise, far below any real error.</summary>
public sealed class OperatorParityTests(ITestOutputHelper log)
{
    private const float Tolerance = 2e-5f;

    private void AssertParity(string what, byte[] model, int[] inputShape, float bound = Tolerance, float scale = 1f)
    {
        float error = OrtParity.MaxAbsError(model, inputShape, scale: scale);
        log.WriteLine($"{what}: max abs error {error:E2}");
        Assert.True(error <= bound, $"{what}: max abs error {error} exceeds {bound}");
    }

    [Fact]
    public void Convolution_with_padding_bias_and_fused_relu()
    {
        var model = new TinyOnnxGraph().Input("x", 3, 9, 11).Random("w", 1, 5, 3, 3, 3).Random("b", 2, 5)
            .Node("Conv", ["x", "w", "b"], ["c"], ("pads", new[] { 1, 1, 1, 1 }))
            .Node("Relu", ["c"], ["y"]).Output("y").Build();
        AssertParity("Conv 3x3 pad 1 + Relu", model, [2, 3, 9, 11]);
    }

    [Fact]
    public void Strided_asymmetric_padding_and_dilated_grouped_convolutions()
    {
        var model = new TinyOnnxGraph().Input("x", 4, 10, 9).Random("w1", 3, 6, 4, 3, 3).Random("w2", 4, 6, 3, 3, 3)
            .Random("w3", 5, 2, 6, 3, 2)
            .Node("Conv", ["x", "w1"], ["a"], ("strides", new[] { 2, 2 }), ("pads", new[] { 0, 1, 1, 0 }))
            .Node("Conv", ["a", "w2"], ["g"], ("group", 2), ("dilations", new[] { 2, 1 }), ("pads", new[] { 2, 1, 2, 1 }))
            .Node("Conv", ["g", "w3"], ["y"], ("strides", new[] { 2, 2 }), ("auto_pad", "SAME_UPPER"))
            .Output("y").Build();
        AssertParity("Conv stride 2 asymmetric pads; grouped dilated; 3x2 SAME_UPPER stride 2", model, [2, 4, 10, 9]);
    }

    [Fact]
    public void Depthwise_convolution_with_relu6_and_folded_batch_norm_with_silu()
    {
        var model = new TinyOnnxGraph().Input("x", 6, 8, 8).Random("dw", 5, 6, 1, 3, 3).Random("pw", 6, 4, 6, 1, 1)
            .Random("gamma", 7, 4).Random("beta", 8, 4).Random("mean", 9, 4)
            .Floats("var", [0.5f, 1.5f, 2f, 0.25f], 4).Floats("lo", [0f]).Floats("hi", [6f])
            .Node("Conv", ["x", "dw"], ["d"], ("group", 6), ("pads", new[] { 1, 1, 1, 1 }))
            .Node("Clip", ["d", "lo", "hi"], ["d6"])
            .Node("Conv", ["d6", "pw"], ["p"])
            .Node("BatchNormalization", ["p", "gamma", "beta", "mean", "var"], ["bn"])
            .Node("Sigmoid", ["bn"], ["s"]).Node("Mul", ["bn", "s"], ["y"]).Output("y").Build();
        AssertParity("depthwise Conv + Clip(0,6); 1x1 Conv + BatchNorm + SiLU", model, [2, 6, 8, 8], scale: 3f);
    }

    [Fact]
    public void Activations_alone_and_fused()
    {
        var model = new TinyOnnxGraph(opset: 14).Input("x", 3, 5, 5).Random("w", 11, 3, 3, 1, 1)
            .Node("Conv", ["x", "w"], ["c"]).Node("LeakyRelu", ["c"], ["l"], ("alpha", 0.1f))
            .Node("HardSigmoid", ["l"], ["h"], ("alpha", 0.2f), ("beta", 0.5f))
            .Node("HardSwish", ["x"], ["s"]).Node("Sigmoid", ["s"], ["g"]).Node("Relu", ["g"], ["r"])
            .Node("Add", ["h", "r"], ["y"]).Output("y").Build();
        AssertParity("LeakyRelu (fused), HardSigmoid, HardSwish, Sigmoid, Relu", model, [2, 3, 5, 5], scale: 5f);
    }

    [Fact]
    public void Broadcasting_arithmetic()
    {
        var model = new TinyOnnxGraph().Input("x", 4, 3, 5).Random("c", 12, 4, 1, 1).Random("row", 13, 5).Floats("two", [2f])
            .Floats("den", [1.5f, -2f, 3f, 4f, 0.5f], 5)
            .Node("Add", ["x", "c"], ["a"]).Node("Mul", ["row", "a"], ["m"]).Node("Sub", ["two", "m"], ["s"])
            .Node("ReduceMean", ["x"], ["g"], ("axes", new[] { 2, 3 }), ("keepdims", 1))
            .Node("Mul", ["s", "g"], ["se"]).Node("Div", ["se", "den"], ["d"]).Node("Div", ["d", "a"], ["y"])
            .Output("y").Build();
        AssertParity("Add/Mul/Sub/Div broadcasting (channel, row, scalar, SE-style [N,C,1,1])", model, [2, 4, 3, 5], bound: 1e-3f);
    }

    /// <summary>The broadcasts the block kernel takes, with the count each value of the small operand repeats over;
    /// others (null) go to the general kernel.</summary>
    [Theory]
    [InlineData(new[] { 1, 4, 1, 1 }, 15)]
    [InlineData(new[] { 2, 4, 1, 1 }, 15)]
    [InlineData(new[] { 4, 1, 1 }, 15)]
    [InlineData(new[] { 5 }, 1)]
    [InlineData(new int[0], 1)]
    [InlineData(new[] { 1, 1, 1, 1 }, 120)]
    [InlineData(new[] { 1, 4, 1, 5 }, null)]
    [InlineData(new[] { 2, 1, 3, 5 }, null)]
    [InlineData(new[] { 3, 1 }, 5)]
    public void Block_broadcasts_repeat_over_the_dimensions_after_the_block(int[] small, int? repeat) =>
        Assert.Equal(repeat, Layout.BlockRepeat(small, [2, 4, 3, 5]));

    [Fact]
    public void Layout_operators()
    {
        var model = new TinyOnnxGraph().Input("x", 4, 6, 5)
            .Longs("starts", 1, 0).Longs("ends", 6, 100).Longs("axes", 2, 3).Longs("steps", 2, 2).Longs("shape", 0, -1)
            .Longs("unsq", 1).Longs("split", 1, 3)
            .Node("Transpose", ["x"], ["t"], ("perm", new[] { 0, 2, 3, 1 }))
            .Node("Split", ["x", "split"], ["s1", "s2"], ("axis", 1))
            .Node("Concat", ["s2", "s1", "x"], ["c"], ("axis", 1))
            .Node("Slice", ["c", "starts", "ends", "axes", "steps"], ["sl"])
            .Node("Reshape", ["sl", "shape"], ["r"]).Node("Unsqueeze", ["r", "unsq"], ["u"])
            .Node("Flatten", ["t"], ["f"]).Node("Squeeze", ["u", "unsq"], ["q"])
            .Output("f").Output("q").Build();
        AssertParity("Transpose, Split, Concat, Slice with steps, Reshape, (Un)Squeeze, Flatten", model, [2, 4, 6, 5], bound: 0);
    }

    /// <summary>A Split or Slice along channels is a range of its input's channels, used in place: the input must then
    /// outlive every reader of the parts. Here the second convolution's output would take the first's memory if it were
    /// freed before the last read of a part (s1, by z). At batch 1 a range is a contiguous run that every kernel reads; at
    /// batch 2 its images lie apart, and the Adds, which take no image stride, read copies of the two ranges they add.</summary>
    [Fact]
    public void Split_and_slice_along_channels_read_their_input_in_place()
    {
        var model = new TinyOnnxGraph().Input("x", 3, 6, 7).Random("w", 1, 8, 3, 3, 3).Random("b", 2, 8)
            .Longs("split", 3, 5).Longs("starts", 1).Longs("ends", 4).Longs("axes", 1)
            .Node("Conv", ["x", "w", "b"], ["a"], ("pads", new[] { 1, 1, 1, 1 }))
            .Node("Split", ["a", "split"], ["s1", "s2"], ("axis", 1))
            .Node("Mul", ["x", "x"], ["m1"]).Node("Slice", ["s2", "starts", "ends", "axes"], ["sl"]).Node("Add", ["m1", "sl"], ["y"])
            .Node("Conv", ["y", "w", "b"], ["a2"], ("pads", new[] { 1, 1, 1, 1 })).Node("Relu", ["a2"], ["r2"])
            .Node("Add", ["s1", "y"], ["z"])
            .Output("z").Output("r2").Build();
        AssertParity("Split and Slice along channels at batch 1, read after later tensors", model, [1, 3, 6, 7], bound: 1e-4f);
        AssertParity("Split and Slice along channels at batch 2, read after later tensors", model, [2, 3, 6, 7], bound: 1e-4f);
        using var engine = IlgpuEngine.Load(model, "test graph", IlgpuTarget.CpuAccelerator);
        string Kinds(int batch) => string.Join(", ", engine.Profile(batch, iterations: 1).Select(s => s.Kind));
        log.WriteLine($"batch 2: {Kinds(2)}; batch 1: {Kinds(1)}");
        Assert.Equal("Conv implicitgemm, Mul, Add, Conv implicitgemm, Add", Kinds(1));
        Assert.Equal("Conv implicitgemm, Mul, Add strided copy, Add, Conv implicitgemm, Add strided copy, Add", Kinds(2));
    }

    /// <summary>YOLOv8's C2f block: a 1×1 Conv's output cut in two halves by Slices (bounds from its Shape), two
    /// bottlenecks of two 3×3 Convs, the first on the second half, each adding its input back, and a Concat of both halves
    /// and the bottlenecks' outputs. At batch 3 the bottlenecks read their inputs, and add them, where they lie (images
    /// the Concat's image stride apart); the first Conv writes its output straight into the Concat's, so do both
    /// bottlenecks (the residual Add is in their epilogue; the first one's output is read by the second where it lies),
    /// and nothing is copied: six GEMMs, no Slice, Add or Concat launch.</summary>
    [Fact]
    public void C2f_block_runs_without_copies_at_batch_above_1()
    {
        var model = new TinyOnnxGraph().Input("x", 6, 5, 7).Random("w1", 21, 8, 6, 1, 1).Random("b1", 22, 8)
            .Random("m1", 23, 4, 4, 3, 3).Random("m2", 24, 4, 4, 3, 3).Random("m3", 26, 4, 4, 3, 3).Random("m4", 27, 4, 4, 3, 3)
            .Random("w2", 25, 5, 16, 1, 1)
            .Longs("zero", 0).Longs("one", 1).Longs("two", 2).Longs("axis", 1)
            .Node("Conv", ["x", "w1", "b1"], ["cv1"]).Node("Sigmoid", ["cv1"], ["sg"]).Node("Mul", ["cv1", "sg"], ["a"])
            // As torch.chunk exports with a dynamic batch: the halves' bounds come from the tensor's shape.
            .Node("Shape", ["a"], ["shape"]).Node("Gather", ["shape", "one"], ["all"], ("axis", 0)).Node("Div", ["all", "two"], ["half"])
            .Node("Slice", ["a", "zero", "half", "axis"], ["left"]).Node("Slice", ["a", "half", "all", "axis"], ["right"])
            .Node("Conv", ["right", "m1"], ["h"], ("pads", new[] { 1, 1, 1, 1 })).Node("Relu", ["h"], ["hr"])
            .Node("Conv", ["hr", "m2"], ["h2"], ("pads", new[] { 1, 1, 1, 1 })).Node("Add", ["right", "h2"], ["m"])
            .Node("Conv", ["m", "m3"], ["g"], ("pads", new[] { 1, 1, 1, 1 })).Node("Relu", ["g"], ["gr"])
            .Node("Conv", ["gr", "m4"], ["g2"], ("pads", new[] { 1, 1, 1, 1 })).Node("Add", ["m", "g2"], ["n"])
            .Node("Concat", ["left", "right", "m", "n"], ["c"], ("axis", 1))
            .Node("Conv", ["c", "w2"], ["y"])
            .Output("y").Build();
        AssertParity("C2f at batch 3: halves read in place, bottleneck residual in the epilogue, Concat written in place", model, [3, 6, 5, 7], bound: 1e-4f);
        AssertParity("C2f at batch 1", model, [1, 6, 5, 7], bound: 1e-4f);
        using var engine = IlgpuEngine.Load(model, "test graph", IlgpuTarget.CpuAccelerator);
        var kinds = engine.Profile(3, iterations: 1).Select(s => s.Kind).ToList();
        log.WriteLine(string.Join(", ", kinds));
        Assert.Equal(["Conv pointwise", .. Enumerable.Repeat("Conv implicitgemm", 4), "Conv pointwise"], kinds);
    }

    /// <summary>SPPF's start: a Conv's output read by a MaxPool, then concatenated with the pool's output. At batch 1 the
    /// Conv still writes into the Concat (the MaxPool reads the same contiguous run there); at batch 2 it cannot, since
    /// the MaxPool, which takes no image stride, read it first, and the Concat copies it.</summary>
    [Fact]
    public void A_concat_input_read_before_by_a_reader_without_image_stride_is_placed_at_batch_1_only()
    {
        var model = new TinyOnnxGraph().Input("x", 3, 6, 6).Random("w", 41, 4, 3, 1, 1)
            .Node("Conv", ["x", "w"], ["a"]).Node("MaxPool", ["a"], ["p"], ("kernel_shape", new[] { 3, 3 }), ("pads", new[] { 1, 1, 1, 1 }))
            .Node("Concat", ["a", "p"], ["c"], ("axis", 1)).Output("c").Build();
        AssertParity("Conv + MaxPool concatenated, batch 1", model, [1, 3, 6, 6], bound: 1e-5f);
        AssertParity("Conv + MaxPool concatenated, batch 2", model, [2, 3, 6, 6], bound: 1e-5f);
        using var engine = IlgpuEngine.Load(model, "test graph", IlgpuTarget.CpuAccelerator);
        string Kinds(int batch) => string.Join(", ", engine.Profile(batch, iterations: 1).Select(s => s.Kind));
        Assert.Equal("Conv pointwise, MaxPool, Concat", Kinds(1));
        Assert.Equal("Conv pointwise, MaxPool, Concat, Concat", Kinds(2));
    }

    /// <summary>Where channel ranges cannot be placed in a Concat (the ranges do not make up their whole, or the Concat
    /// applies an activation that the ranges' other readers must not see), each is copied from where it lies.</summary>
    [Fact]
    public void Channel_ranges_that_cannot_be_placed_are_copied_into_the_concat()
    {
        var model = new TinyOnnxGraph().Input("x", 3, 4, 5).Random("w1", 31, 9, 3, 1, 1).Random("w2", 32, 4, 3, 1, 1)
            .Random("w3", 33, 5, 4, 1, 1).Longs("split", 2, 3, 4)
            .Node("Conv", ["x", "w1"], ["a"]).Node("Split", ["a", "split"], ["p", "q", "r"], ("axis", 1))
            .Node("Conv", ["x", "w2"], ["b"])
            .Node("Concat", ["q", "p", "b"], ["swapped"], ("axis", 1))
            .Node("Concat", ["p", "q", "r"], ["whole"], ("axis", 1)).Node("Relu", ["whole"], ["activated"])
            .Node("Conv", ["r", "w3"], ["after"])
            .Output("swapped").Output("activated").Output("after").Build();
        AssertParity("ranges out of order, and a Concat with a fused activation, at batch 2", model, [2, 3, 4, 5], bound: 1e-5f);
        using var engine = IlgpuEngine.Load(model, "test graph", IlgpuTarget.CpuAccelerator);
        var kinds = engine.Profile(2, iterations: 1).Select(s => s.Kind).ToList();
        log.WriteLine(string.Join(", ", kinds));
        Assert.Equal(5, kinds.Count(k => k == "Concat strided copy"));
        Assert.DoesNotContain("Split", kinds);
    }

    [Fact]
    public void Constant_pad_with_asymmetric_and_negative_pads()
    {
        // As TensorFlow converters emit before stride-2 convolutions (NanoDet-g): zero pad bottom/right, then a crop.
        var model = new TinyOnnxGraph().Input("x", 3, 7, 6)
            .Longs("pads", 0, 0, 0, 1, 0, 0, 1, 2).Longs("crop", 0, 1, -1, 0, 0, 0, 0, -2).Floats("value", [0.5f])
            .Node("Pad", ["x", "pads"], ["p"])
            .Node("Pad", ["p", "crop", "value"], ["y"])
            .Output("y").Build();
        AssertParity("Pad constant: asymmetric pads, negative pads, a fill value", model, [2, 3, 7, 6], bound: 0);
    }

    [Theory]
    [InlineData("nearest", "asymmetric", "floor")]
    [InlineData("nearest", "half_pixel", "round_prefer_floor")]
    [InlineData("linear", "half_pixel", "round_prefer_floor")]
    [InlineData("linear", "align_corners", "round_prefer_floor")]
    [InlineData("linear", "pytorch_half_pixel", "round_prefer_floor")]
    [InlineData("linear", "asymmetric", "round_prefer_floor")]
    public void Resize_modes(string mode, string coordinates, string nearest)
    {
        var model = new TinyOnnxGraph().Input("x", 3, 5, 7).Floats("roi", [], 0).Floats("scales", [1, 1, 2, 2], 4).Longs("sizes", 2, 3, 7, 4)
            .Node("Resize", ["x", "roi", "scales"], ["up"], ("mode", mode), ("coordinate_transformation_mode", coordinates), ("nearest_mode", nearest))
            .Node("Resize", ["x", "", "", "sizes"], ["down"], ("mode", mode), ("coordinate_transformation_mode", coordinates), ("nearest_mode", nearest))
            .Output("up").Output("down").Build();
        AssertParity($"Resize {mode} {coordinates} {nearest} (×2 by scales, to 7×4 by sizes)", model, [2, 3, 5, 7], bound: 1e-5f);
    }

    [Fact]
    public void Pooling_and_reductions()
    {
        var model = new TinyOnnxGraph().Input("x", 3, 7, 9)
            .Node("MaxPool", ["x"], ["m3"], ("kernel_shape", new[] { 3, 3 }), ("pads", new[] { 1, 1, 1, 1 }))
            .Node("MaxPool", ["x"], ["m2"], ("kernel_shape", new[] { 2, 2 }), ("strides", new[] { 2, 2 }), ("ceil_mode", 1))
            .Node("AveragePool", ["x"], ["a"], ("kernel_shape", new[] { 3, 3 }), ("strides", new[] { 2, 2 }), ("pads", new[] { 1, 1, 1, 1 }))
            .Node("GlobalAveragePool", ["x"], ["g"]).Node("ReduceMean", ["x"], ["r"], ("axes", new[] { 2, 3 }), ("keepdims", 0))
            .Node("ReduceMax", ["x"], ["rm"], ("axes", new[] { 1 }))
            .Output("m3").Output("m2").Output("a").Output("g").Output("r").Output("rm").Build();
        AssertParity("MaxPool 3x3/1 pad 1 and 2x2/2 ceil, AveragePool, GlobalAveragePool, ReduceMean, ReduceMax", model, [2, 3, 7, 9], bound: 1e-6f);
    }

    [Fact]
    public void Matrix_products_and_softmax()
    {
        var model = new TinyOnnxGraph().Input("x", 3, 6).Random("w", 14, 6, 5).Random("g", 15, 4, 5).Random("bias", 16, 4)
            .Node("MatMul", ["x", "w"], ["m"])
            .Node("Reshape", ["m", "flat"], ["f"]).Longs("flat", -1, 5)
            .Node("Gemm", ["f", "g", "bias"], ["gm"], ("transB", 1), ("alpha", 0.5f), ("beta", 2f))
            .Node("Softmax", ["gm"], ["y"], ("axis", -1)).Node("Softmax", ["m"], ["s1"], ("axis", 1))
            .Output("y").Output("s1").Build();
        AssertParity("MatMul (batched × 2-D), Gemm transB alpha beta bias, Softmax on last and middle axis", model, [2, 3, 6]);
    }

    [Fact]
    public void Detection_tail_topk_gather_cast_floor_runs_through_the_host_step()
    {
        // CenterNet-style decode: top scores of a flattened heatmap, their cell (index / W) and class, gathered values.
        var model = new TinyOnnxGraph().Input("x", 3, 4, 5).Longs("flat", 0, -1).Longs("k", 6).Floats("w", [5f])
            .Node("Reshape", ["x", "flat"], ["f"]).Node("TopK", ["f", "k"], ["scores", "idx"], ("axis", 1))
            .Node("Cast", ["idx"], ["fi"], ("to", 1)).Node("Div", ["fi", "w"], ["d"]).Node("Floor", ["d"], ["row"])
            .Node("Gather", ["f", "idx"], ["g"], ("axis", 1))
            .Output("scores").Output("idx", isLong: true).Output("row").Output("g").Build();
        AssertParity("TopK + Cast + Div + Floor + Gather", model, [2, 3, 4, 5], bound: 0);
    }

    [Fact]
    public void A_floor_after_a_div_and_a_cast_to_integer_after_it_add_no_launch()
    {
        // CenterNet's decoder: index ÷ width, Floor, Cast to int64. The Floor runs inside the Div's launch; truncating
        // whole numbers changes nothing, so the Cast relabels them.
        TinyOnnxGraph Divided() => new TinyOnnxGraph().Input("x", 3, 4, 5).Longs("flat", 0, -1).Longs("k", 6).Floats("w", [5f])
            .Node("Reshape", ["x", "flat"], ["f"]).Node("TopK", ["f", "k"], ["scores", "idx"], ("axis", 1))
            .Node("Cast", ["idx"], ["fi"], ("to", 1)).Node("Div", ["fi", "w"], ["d"]);
        var divided = Divided().Output("d").Build();
        var floored = Divided().Node("Floor", ["d"], ["row"]).Output("row").Build();
        var cast = Divided().Node("Floor", ["d"], ["row"]).Node("Cast", ["row"], ["rowLong"], ("to", 7)).Output("rowLong", isLong: true).Build();
        AssertParity("TopK + Div + Floor", floored, [2, 3, 4, 5], bound: 0);
        AssertParity("TopK + Div + Floor + Cast to int64", cast, [2, 3, 4, 5], bound: 0);

        int Launches(byte[] model)
        {
            using var engine = IlgpuEngine.Load(model, "test graph", IlgpuTarget.CpuAccelerator);
            return engine.Summary(2).Launches;
        }
        int launches = Launches(divided);
        Assert.Equal(launches, Launches(floored));
        Assert.Equal(launches, Launches(cast));
    }

    [Fact]
    public void Shape_arithmetic_is_folded_on_the_host()
    {
        var model = new TinyOnnxGraph().Input("x", 4, 6, 6).Longs("i0", 0).Longs("i1", 1).Longs("minus", -1).Longs("ax", 0)
            .Node("Shape", ["x"], ["s"]).Node("Gather", ["s", "i0"], ["n"]).Node("Gather", ["s", "i1"], ["c"])
            .Node("Concat", ["n", "c", "minus"], ["target"], ("axis", 0))
            .Node("Reshape", ["x", "target"], ["y"]).Output("y").Build();
        AssertParity("Shape → Gather → Concat → Reshape", model, [2, 4, 6, 6], bound: 0);

        // Opset 15 Shape with start/end, as TensorFlow converters build Resize sizes: [N, C] ++ [2H, 2W].
        var resize = new TinyOnnxGraph(opset: 17).Input("x", 4, 6, 5).Longs("hw", 12, 10)
            .Node("Shape", ["x"], ["nc"], ("start", 0), ("end", -2)).Node("Concat", ["nc", "hw"], ["sizes"], ("axis", 0))
            .Node("Resize", ["x", "", "", "sizes"], ["y"], ("mode", "linear"), ("coordinate_transformation_mode", "asymmetric"))
            .Output("y").Build();
        AssertParity("Shape(start, end) → Concat → Resize sizes", resize, [2, 4, 6, 5], bound: 1e-6f);
    }

    [Fact]
    public void Unsupported_operator_fails_at_load_naming_type_and_node()
    {
        var model = new TinyOnnxGraph().Input("x", 3).Node("Einsum", ["x", "x"], ["y"], ("equation", "bi,bi->b")).Output("y").Build();
        var e = Assert.Throws<UnsupportedOperatorException>(() => IlgpuEngine.Load(model, "test graph", IlgpuTarget.CpuAccelerator));
        Assert.IsAssignableFrom<InvalidModelException>(e);
        Assert.Contains("Einsum", e.Message);
        Assert.Contains("einsum_0", e.Message);
    }

    [Fact]
    public void Reflecting_pad_fails_at_load_naming_the_mode()
    {
        var model = new TinyOnnxGraph().Input("x", 2, 4, 4).Longs("pads", 0, 0, 1, 1, 0, 0, 1, 1)
            .Node("Pad", ["x", "pads"], ["y"], ("mode", "reflect")).Output("y").Build();
        var e = Assert.Throws<UnsupportedOperatorException>(() => IlgpuEngine.Load(model, "test graph", IlgpuTarget.CpuAccelerator));
        Assert.Contains("Pad (mode reflect)", e.Message);

        var withAxes = new TinyOnnxGraph().Input("x", 2, 4, 4).Longs("pads", 1, 1).Floats("value", [0f]).Longs("axes", 2)
            .Node("Pad", ["x", "pads", "value", "axes"], ["y"]).Output("y").Build();
        var axes = Assert.Throws<UnsupportedOperatorException>(() => IlgpuEngine.Load(withAxes, "test graph", IlgpuTarget.CpuAccelerator));
        Assert.Contains("Pad (with an axes input)", axes.Message);
    }
}
