using ILGPU;
using ILGPU.Runtime;
using MoeDetect.Kernels.Moe;
using MoeDetect.Kernels.Preprocessing;
using MoeDetect.Kernels.Tensors;

namespace MoeDetect.Model.Ilgpu;

/// <summary>The kernels of MoeDetect.Kernels compiled for one accelerator, each loaded on first use and kept.
/// Multi-kernel operations (top-k, the pointwise GEMMs) are launched here with their group shapes. Every launch goes
/// to <see cref="Stream"/> (default: the accelerator's), so a plan's launches can be captured into a CUDA graph,
/// which the legacy default stream does not allow.</summary>
internal sealed partial class KernelLibrary(Accelerator accelerator, AcceleratorStream? stream = null, Action<string>? warn = null)
{
    /// <summary>On a GPU, compiled kernels are kept between processes (<see cref="CompiledKernelCache"/>).</summary>
    private readonly KernelLoader _loader = new(accelerator,
        accelerator is ILGPU.Runtime.Cuda.CudaAccelerator ? CompiledKernelCache.FromEnvironment(warn ?? Console.Error.WriteLine) : null);
    private Action<Index1D, ArrayView<float>, ArrayView<float>, Activation>? _unary;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Dims6, Dims6, Dims6, BinaryOperator>? _binary;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, BinaryOperator>? _binaryBlock;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, Dims6, Dims6, int, Dims6, int, Activation>? _copy, _copyQuads;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, WindowGeometry, Activation>? _conv;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, WindowGeometry, Activation>? _blockedConv;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, WindowGeometry, PoolMode>? _pool;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, WindowGeometry>? _peaks;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, DistanceBoxShape>? _boxesPerAnchor, _boxesPerValue;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ResizeGeometry, Activation>? _resize, _resizeSpans;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatrixProduct>? _matmul;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, int, int>? _softmax;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>? _gather;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, Dims6, Dims6, Dims6, float>? _pad;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Dims6, Dims6, Dims6, Dims6>? _where;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Dims6, Dims6, int, int>? _gatherElements;
    private Action<Index1D, ArrayView<byte>, ArrayView<LetterboxFrame>, ArrayView<int>, ArrayView<int>, ArrayView<float>, TensorFormat>? _letterbox;
    private Action<Index1D, ArrayView<byte>, ArrayView<Yuv420Frame>, ArrayView<int>, ArrayView<int>, ArrayView<float>, TensorFormat>? _yuvLetterbox;
    private Action<Index1D, ArrayView<byte>, ArrayView<float>, TensorFormat>? _canvas;
    private Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int>? _gatherFrames;
    private Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int>? _accumulateWeighted;

    public Accelerator Accelerator => accelerator;
    public AcceleratorStream Stream { get; } = stream ?? accelerator.DefaultStream;

    public Action<Index1D, ArrayView<float>, ArrayView<float>, Activation> Unary =>
        _unary ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, Activation>>(ElementwiseKernels.Unary));

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Dims6, Dims6, Dims6, BinaryOperator> Binary =>
        _binary ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Dims6, Dims6, Dims6, BinaryOperator>>(ElementwiseKernels.Binary));

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, BinaryOperator> BinaryBlock =>
        _binaryBlock ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, BinaryOperator>>(ElementwiseKernels.BinaryBlock));

    /// <summary>Copies the strided region <paramref name="walk"/> of x into y (Concat, Split, Slice, Transpose), applying
    /// the activation: four values a thread where the walk divides into quads (<see cref="CopyLayout.InQuads"/>), else
    /// one.</summary>
    public void Copy(ArrayView<float> x, ArrayView<float> y, CopyLayout walk, Activation activation)
    {
        if (walk.InQuads(DeviceMemory.IsAligned(x, 16) && DeviceMemory.IsAligned(y, 16)) is { } quads)
        {
            _copyQuads ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, Dims6, Dims6, int, Dims6, int, Activation>>(ElementwiseKernels.CopyQuads));
            _copyQuads(quads.Count, x, y, quads.Sizes, quads.XStrides, quads.XStart, quads.YStrides, quads.YStart, activation);
            return;
        }
        _copy ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, Dims6, Dims6, int, Dims6, int, Activation>>(ElementwiseKernels.Copy));
        _copy(walk.Count, x, y, walk.Sizes, walk.XStrides, walk.XStart, walk.YStrides, walk.YStart, activation);
    }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, WindowGeometry, Activation> Convolution =>
        _conv ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, WindowGeometry, Activation>>(ConvolutionKernel.Run));

    /// <summary><see cref="BlockedConvolutionKernel"/>: launch with <see cref="BlockedConvolutionKernel.Threads"/>.</summary>
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, WindowGeometry, Activation> BlockedConvolution =>
        _blockedConv ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, WindowGeometry, Activation>>(BlockedConvolutionKernel.Run));

    public Action<Index1D, ArrayView<float>, ArrayView<float>, WindowGeometry, PoolMode> Pool =>
        _pool ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, WindowGeometry, PoolMode>>(PoolingKernels.Pool));

    /// <summary>YOLOv8's head decode (<see cref="DistanceBoxKernel"/>): a thread per anchor where the batch's anchors
    /// fill at least half the threads the device keeps resident (batch 32 at 640: 268,800 anchors on an H100's 270,336),
    /// a thread per value otherwise.</summary>
    public void DistanceBoxes(ArrayView<float> x, ArrayView<float> binWeights, ArrayView<float> anchors, ArrayView<float> strides, ArrayView<float> y,
        DistanceBoxShape s)
    {
        long imageAnchors = (long)s.Batch * s.Anchors;
        bool perAnchor = FillsHalfTheResidentThreads(imageAnchors);
        var decode = perAnchor ? (_boxesPerAnchor ??= LoadBoxes(DistanceBoxKernel.PerAnchor)) : (_boxesPerValue ??= LoadBoxes(DistanceBoxKernel.PerValue));
        decode(checked((int)(perAnchor ? imageAnchors : imageAnchors * s.OutputRows)), x, binWeights, anchors, strides, y, s);
    }

    /// <summary>Whether <paramref name="threads"/> threads are at least half those the device keeps resident at once.</summary>
    private bool FillsHalfTheResidentThreads(long threads) =>
        threads >= (long)accelerator.NumMultiprocessors * accelerator.MaxNumThreadsPerMultiprocessor / 2;

    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, DistanceBoxShape> LoadBoxes(
        Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, DistanceBoxShape> kernel) =>
        Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, DistanceBoxShape>>(kernel));

    public Action<Index1D, ArrayView<float>, ArrayView<float>, WindowGeometry> Peaks =>
        _peaks ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, WindowGeometry>>(PoolingKernels.Peaks));

    /// <summary><see cref="ResizeKernel"/>: 4 outputs a thread where the rows and y allow (<see cref="ResizeKernel.SpansFit"/>,
    /// y 16-byte aligned), else one.</summary>
    public void Resize(ArrayView<float> x, ArrayView<float> y, ResizeGeometry g, Activation activation)
    {
        int outputs = checked(g.Planes * g.OutHeight * g.OutWidth);
        if (ResizeKernel.SpansFit(g) && DeviceMemory.IsAligned(y, 16))
        {
            _resizeSpans ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ResizeGeometry, Activation>>(ResizeKernel.RunSpans));
            _resizeSpans(outputs / ResizeKernel.Span, x, y, g, activation);
            return;
        }
        _resize ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ResizeGeometry, Activation>>(ResizeKernel.Run));
        _resize(outputs, x, y, g, activation);
    }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatrixProduct> MatrixMultiply =>
        _matmul ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatrixProduct>>(MatrixKernels.Multiply));

    public Action<Index1D, ArrayView<float>, ArrayView<float>, int, int> Softmax =>
        _softmax ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int>>(AxisKernels.Softmax));

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> Gather =>
        _gather ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>>(AxisKernels.Gather));

    public Action<Index1D, ArrayView<float>, ArrayView<float>, Dims6, Dims6, Dims6, float> Pad =>
        _pad ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, Dims6, Dims6, Dims6, float>>(PadKernel.Constant));

    public Action<Index1D, ArrayView<byte>, ArrayView<LetterboxFrame>, ArrayView<int>, ArrayView<int>, ArrayView<float>, TensorFormat> Letterbox =>
        _letterbox ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<byte>, ArrayView<LetterboxFrame>, ArrayView<int>, ArrayView<int>, ArrayView<float>, TensorFormat>>(LetterboxKernel.Run));

    public Action<Index1D, ArrayView<byte>, ArrayView<Yuv420Frame>, ArrayView<int>, ArrayView<int>, ArrayView<float>, TensorFormat> YuvLetterbox =>
        _yuvLetterbox ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<byte>, ArrayView<Yuv420Frame>, ArrayView<int>, ArrayView<int>, ArrayView<float>, TensorFormat>>(YuvLetterboxKernel.Run));

    public Action<Index1D, ArrayView<byte>, ArrayView<float>, TensorFormat> Canvas =>
        _canvas ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<byte>, ArrayView<float>, TensorFormat>>(CanvasKernel.Run));

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Dims6, Dims6, Dims6, Dims6> Where =>
        _where ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Dims6, Dims6, Dims6, Dims6>>(SelectionKernels.Where));

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Dims6, Dims6, int, int> GatherElements =>
        _gatherElements ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Dims6, Dims6, int, int>>(SelectionKernels.GatherElements));

    public Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int> GatherFrames =>
        _gatherFrames ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int>>(ExpertDispatchKernels.GatherFrames));

    public Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int> AccumulateWeighted =>
        _accumulateWeighted ??= Bind(_loader.AutoGrouped<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int>>(ExpertDispatchKernels.AccumulateWeighted));

    // ILGPU's stream-bound loaders bind to the accelerator's default stream; these bind to the library's stream.
    private Action<Index1D, T1, T2> Bind<T1, T2>(Action<AcceleratorStream, Index1D, T1, T2> k) =>
        (i, a, b) => k(Stream, i, a, b);
    private Action<Index1D, T1, T2, T3> Bind<T1, T2, T3>(Action<AcceleratorStream, Index1D, T1, T2, T3> k) =>
        (i, a, b, c) => k(Stream, i, a, b, c);
    private Action<Index1D, T1, T2, T3, T4> Bind<T1, T2, T3, T4>(Action<AcceleratorStream, Index1D, T1, T2, T3, T4> k) =>
        (i, a, b, c, d) => k(Stream, i, a, b, c, d);
    private Action<Index1D, T1, T2, T3, T4, T5> Bind<T1, T2, T3, T4, T5>(Action<AcceleratorStream, Index1D, T1, T2, T3, T4, T5> k) =>
        (i, a, b, c, d, e) => k(Stream, i, a, b, c, d, e);
    private Action<Index1D, T1, T2, T3, T4, T5, T6> Bind<T1, T2, T3, T4, T5, T6>(Action<AcceleratorStream, Index1D, T1, T2, T3, T4, T5, T6> k) =>
        (i, a, b, c, d, e, f) => k(Stream, i, a, b, c, d, e, f);
    private Action<Index1D, T1, T2, T3, T4, T5, T6, T7> Bind<T1, T2, T3, T4, T5, T6, T7>(Action<AcceleratorStream, Index1D, T1, T2, T3, T4, T5, T6, T7> k) =>
        (i, a, b, c, d, e, f, g) => k(Stream, i, a, b, c, d, e, f, g);
    private Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8> Bind<T1, T2, T3, T4, T5, T6, T7, T8>(Action<AcceleratorStream, Index1D, T1, T2, T3, T4, T5, T6, T7, T8> k) =>
        (i, a, b, c, d, e, f, g, h) => k(Stream, i, a, b, c, d, e, f, g, h);
    private Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9> Bind<T1, T2, T3, T4, T5, T6, T7, T8, T9>(Action<AcceleratorStream, Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9> k) =>
        (i, a, b, c, d, e, f, g, h, j) => k(Stream, i, a, b, c, d, e, f, g, h, j);
}
