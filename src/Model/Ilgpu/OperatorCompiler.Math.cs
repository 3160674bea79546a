using MoeDetect.Kernels.Tensors;

namespace MoeDetect.Model.Ilgpu;

/// <summary>MatMul, Gemm, Softmax, reductions, Resize and TopK.</summary>
internal sealed partial class OperatorCompiler
{
    private void MatMul()
    {
        var a = DeviceInput(0);
        var b = DeviceInput(1);
        int[] sa = a.Shape.Length == 1 ? [1, a.Shape[0]] : a.Shape, sb = b.Shape.Length == 1 ? [b.Shape[0], 1] : b.Shape;
        int m = sa[^2], k = sa[^1], n = sb[^1];
        if (sb[^2] != k) throw Invalid($"inner dimensions differ: [{string.Join(",", a.Shape)}] × [{string.Join(",", b.Shape)}]");
        int[] batchA = sa[..^2], batchB = sb[..^2];
        int countA = Elements(batchA), countB = Elements(batchB);
        var batch = Layout.Broadcast(batchA, batchB);
        if (batch is null || (countA != 1 && countB != 1 && !batchA.SequenceEqual(batchB)))
            throw Invalid("only equal or single batch dimensions are supported");
        var shape = new List<int>(batch);
        if (a.Shape.Length > 1) shape.Add(m);
        if (b.Shape.Length > 1) shape.Add(n);
        var y = NewTensor([.. shape]);
        var p = new MatrixProduct
        {
            Batches = Elements(batch), M = m, N = n, K = k,
            ABatch = countA == 1 ? 0 : m * k, ARow = k, ACol = 1,
            BBatch = countB == 1 ? 0 : k * n, BRow = n, BCol = 1, Alpha = 1,
        };
        EmitMatrixProduct(a, b, null, y, p);
    }

    private void Gemm()
    {
        var a = DeviceInput(0);
        var b = DeviceInput(1);
        bool ta = _node.Int("transA", 0) != 0, tb = _node.Int("transB", 0) != 0;
        int m = ta ? a.Shape[1] : a.Shape[0], k = ta ? a.Shape[0] : a.Shape[1], n = tb ? b.Shape[0] : b.Shape[1];
        var p = new MatrixProduct
        {
            Batches = 1, M = m, N = n, K = k,
            ARow = ta ? 1 : k, ACol = ta ? m : 1, BRow = tb ? 1 : n, BCol = tb ? k : 1,
            Alpha = _node.Float("alpha", 1), Beta = _node.Float("beta", 1),
        };
        DeviceTensor? c = null;
        if (_node.Input(2) is not null)
        {
            c = DeviceInput(2);
            int[] sc = [.. Enumerable.Repeat(1, Math.Max(0, 2 - c.Shape.Length)), .. c.Shape];
            p.HasBias = 1;
            p.BiasRow = sc[0] == 1 ? 0 : sc[1];
            p.BiasCol = sc[1] == 1 ? 0 : 1;
        }
        EmitMatrixProduct(a, b, c, NewTensor([m, n]), p);
    }

    private void EmitMatrixProduct(DeviceTensor a, DeviceTensor b, DeviceTensor? c, DeviceTensor y, MatrixProduct p)
    {
        var bias = c ?? a;
        var kernel = _kernels.MatrixMultiply;
        Emit(() => kernel(y.Length, a.View, b.View, bias.View, y.View, p), a, b, bias, y);
        Set(0, y);
    }

    private void Softmax()
    {
        var x = DeviceInput(0);
        int rank = x.Shape.Length;
        int axis = Axis(_node.Int("axis", _graph.Opset < 13 ? 1 : -1), rank);
        // Before opset 13 Softmax flattens everything from the axis on into one row.
        var (_, length, inner) = _graph.Opset < 13 ? Layout.Split3(x.Shape, axis, rank) : Layout.Split3(x.Shape, axis, axis + 1);
        var y = NewTensor(x.Shape);
        var kernel = _kernels.Softmax;
        int rows = x.Length / length;
        Emit(() => kernel(rows, x.View, y.View, length, inner), x, y);
        Set(0, y);
    }

    private void Reduce(ReduceMode mode)
    {
        var x = DeviceInput(0);
        int rank = x.Shape.Length;
        var axes = (AxesInput(1, rank) ?? (_node.Int("noop_with_empty_axes", 0) != 0 ? [] : Enumerable.Range(0, rank).Select(i => (long)i).ToArray()))
            .Select(a => (int)a).Order().ToArray();
        if (axes.Length == 0) { Set(0, x); return; }
        if (axes[^1] - axes[0] + 1 != axes.Length) throw Invalid("only reductions over adjacent axes are supported");
        bool keep = _node.Int("keepdims", 1) != 0;
        var shape = x.Shape.Select((d, i) => axes.Contains(i) ? (keep ? 1 : 0) : d).Where((d, i) => keep || !axes.Contains(i)).ToArray();
        Set(0, ReduceBlock(x, shape, axes[0], axes[^1] + 1, mode));
    }

    private DeviceTensor ReduceBlock(DeviceTensor x, int[] shape, int from, int to, ReduceMode mode)
    {
        var (outer, reduced, inner) = Layout.Split3(x.Shape, from, to);
        var y = NewTensor(shape);
        var kernels = _kernels;
        Emit(() => kernels.Reduce(x.View, y.View, outer, reduced, inner, mode), x, y);
        return y;
    }

    private void Resize()
    {
        var x = DeviceInput(0);
        if (x.Shape.Length != 4) throw Invalid("only 4-D (NCHW) inputs are supported");
        bool old = _node.OpType == "Upsample" || _graph.Opset < 11;
        float[]? scales = null;
        int[]? sizes = null;
        if (old) scales = _node.Input(1) is not null ? HostInput(1).ToFloats() : _node.Attributes["scales"].Floats.ToArray();
        else if (_node.Input(3) is not null) sizes = HostInput(3).ToInts();
        else if (_node.Input(2) is not null && HostInput(2).Data.Length > 0) scales = HostInput(2).ToFloats();
        else throw Invalid("neither scales nor sizes are given");
        int[] outShape = sizes ?? x.Shape.Select((d, i) => (int)Math.Floor(d * scales![i])).ToArray();
        if (outShape[0] != x.Shape[0] || outShape[1] != x.Shape[1]) throw Invalid("only the two innermost axes may be resized");
        string mode = _node.Text("mode", "nearest");
        if (mode is not ("nearest" or "linear" or "bilinear")) throw Invalid($"mode '{mode}' is not supported");
        string coordinates = old ? "asymmetric" : _node.Text("coordinate_transformation_mode", "half_pixel");
        var g = new ResizeGeometry
        {
            Planes = x.Shape[0] * x.Shape[1], InHeight = x.Shape[2], InWidth = x.Shape[3], OutHeight = outShape[2], OutWidth = outShape[3],
            ScaleY = scales?[2] ?? (float)outShape[2] / x.Shape[2], ScaleX = scales?[3] ?? (float)outShape[3] / x.Shape[3],
            Linear = mode == "nearest" ? 0 : 1,
            Coordinates = coordinates switch
            {
                "half_pixel" => ResizeCoordinates.HalfPixel,
                "pytorch_half_pixel" => ResizeCoordinates.PytorchHalfPixel,
                "align_corners" => ResizeCoordinates.AlignCorners,
                "asymmetric" => ResizeCoordinates.Asymmetric,
                "tf_half_pixel_for_nn" => ResizeCoordinates.TfHalfPixelForNearest,
                _ => throw Invalid($"coordinate_transformation_mode '{coordinates}' is not supported"),
            },
            Rounding = (old ? "floor" : _node.Text("nearest_mode", "round_prefer_floor")) switch
            {
                "round_prefer_ceil" => NearestRounding.RoundPreferCeil,
                "floor" => NearestRounding.Floor,
                "ceil" => NearestRounding.Ceil,
                _ => NearestRounding.RoundPreferFloor,
            },
        };
        var placement = new OutputPlacement(Activation.None);
        var y = NewTensor(outShape, placement: placement);
        var kernels = _kernels;
        int planesPerImage = outShape[1];
        Emit(() => kernels.Resize(x.View, placement.View(y), g with { OutImageStride = placement.ImageStride, PlanesPerImage = planesPerImage },
            placement.Activation), x, y);
        Set(0, y);
    }

    /// <summary>TopK on the device (<see cref="TopKKernels"/>): no synchronisation, values sorted best first, ties to
    /// the lower index. sorted = 0 allows any order, so the sorted result serves it too.</summary>
    private void TopK()
    {
        var x = DeviceInput(0);
        int k = (int)HostInput(1).Data[0];
        int axis = Axis(_node.Int("axis", -1), x.Shape.Length);
        var (outer, length, inner) = Layout.Split3(x.Shape, axis, axis + 1);
        if (k > length) throw Invalid($"k = {k} exceeds the axis length {length}");
        if (k < 1 || k > TopKKernels.MaxK) throw Invalid($"k = {k} is outside 1..{TopKKernels.MaxK}, the range the device sort handles");
        var s = new TopKShape
        {
            Rows = outer * inner, Length = length, Inner = inner, K = k, Largest = _node.Int("largest", 1) != 0 ? 1 : 0,
            Chunks = (length + TopKKernels.ChunkLength - 1) / TopKKernels.ChunkLength, Unsorted = _node.Int("sorted", 1) == 0 ? 1 : 0,
        };
        var shape = (int[])x.Shape.Clone();
        shape[axis] = k;
        var values = NewTensor(shape);
        var indices = NewTensor(shape, isInteger: true);
        // Short rows are selected in one launch, without the scratch.
        var scratch = KernelLibrary.SelectsInOneGroup(s) ? null : NewTensor([s.Rows * s.ScratchPerRow]);
        var kernels = _kernels;
        Emit(() => kernels.TopK(x.View, (scratch ?? indices).View.Cast<int>(), values.View, indices.View, s),
            new[] { x, values, indices, scratch }.OfType<DeviceTensor>().ToArray());
        Set(0, values);
        Set(1, indices);
    }
}
