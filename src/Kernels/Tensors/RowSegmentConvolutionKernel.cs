using ILGPU;

namespace MoeDetect.Kernels.Tensors;

/// <summary>The FP16 tensor-core GEMM of <see cref="Fp16TensorCoreConvolutionKernel"/> for 3 × 3 convolutions of stride 1
/// or 2 and padding 1 on output rows of a multiple of 4 values (<see cref="Fits"/>), planned with
/// <see cref="PointwiseGeometry.TensorCores"/> = <see cref="TensorCorePrecision.Fp16RowSegments"/>. The implicit GEMM's
/// input copies (one 4-byte <c>cp.async</c> and its window arithmetic a value) held its 3 × 3 layers on the H100, not the
/// <c>mma</c> (docs/results/2026-12-07-h100-fp16). Here a k-step is one kernel row × 16 channels × 3 kernel columns (48
/// rows, k = (kernel row · C + channel) · 3 + kernel column, the weights permuted so: <see cref="RowSegmentWeights"/>).
/// For those 48 rows a tile's inputs are 16 channels' stretches of one input row under the tile's pixels: each thread
/// copies 4 adjacent pixels' values as one 16-byte <c>cp.async</c>, and the rounding pass, which reads every value anyway,
/// builds the three kernel columns' B rows from that chunk and its neighbours' end values (a stretch's first and last
/// neighbour copied one value each). That is 16 × (columns / 4) + 32 copies a k-step of 48 rows instead of 48 × columns.
/// At stride 2 the 4 pixels read two adjacent chunks (8 input values) and the value before them
/// (<see cref="RowSegmentInputs"/>).
/// Weights lie in FP16 in device memory and reach their stage by 16-byte <c>cp.async</c> too, no registers, no rounding.
/// Both stages are double-buffered; sums, bias, activation and output stay FP32. Same grid, groups, tiles and epilogue as
/// the other tensor-core kernels.</summary>
public static class RowSegmentConvolutionKernel
{
    /// <summary>Channels of a k-step, and its rows: those channels × 3 kernel columns (three m16n8k16 steps).</summary>
    public const int StepChannels = 16, KStep = 3 * StepChannels;

    /// <summary>Halves a weight row of a stage takes, [out channel][k]: 48 k + 8, so that the 8 rows an <c>ldmatrix</c>
    /// matrix reads (112 bytes apart) fall on 8 different 16-byte bank groups.</summary>
    internal const int WeightStride = KStep + 8;

    /// <summary>Whether g is a convolution this kernel takes: 3 × 3, padding 1, no dilation, channels a multiple of
    /// <see cref="StepChannels"/>, no input scale, output rows of a multiple of 4 values (a 4-pixel chunk never straddles
    /// two rows, and its inputs start 16-byte aligned); stride 1 with the output as large as the input, or stride 2 with
    /// input rows twice the output's (no padding on the right: its inputs are 2 aligned chunks and the value before).</summary>
    public static bool Fits(PointwiseGeometry g)
    {
        var w = g.Window;
        bool unit = w.StrideY == 1 && w.StrideX == 1 && w.OutHeight == w.Height && w.OutWidth == w.Width;
        bool doubled = w.StrideY == 2 && w.StrideX == 2 && w.Width == 2 * w.OutWidth;
        return g.Windowed != 0 && g.ScalesInput == 0 && w.KernelHeight == 3 && w.KernelWidth == 3 && (unit || doubled)
            && w.PadTop == 1 && w.PadLeft == 1 && w.DilationY == 1 && w.DilationX == 1 && w.OutWidth % 4 == 0 && w.Channels % StepChannels == 0;
    }

    /// <summary>Whether a tile of <paramref name="tiling"/> fits g's stages in the 48 KB a kernel may declare: stride 2's
    /// input stages are twice as long, too long for the 32 × 128 tile.</summary>
    public static bool FitsTile(PointwiseGeometry g, PointwiseTiling tiling) => g.Window.StrideX == 1 || tiling == PointwiseTiling.Square;

    /// <summary>g's split-K slices (<see cref="PointwiseConvolutionKernel.SplitK"/>'s) widened to whole k-steps.</summary>
    public static PointwiseGeometry InWholeSteps(PointwiseGeometry g)
    {
        int slice = PointwiseConvolutionKernel.Ceiling(g.SliceChannels, KStep) * KStep;
        return g with { SliceChannels = slice, Slices = PointwiseConvolutionKernel.Ceiling(g.Channels, slice) };
    }

    /// <summary>Words of one FP16 weight stage: the tile's rows of <see cref="WeightStride"/> halves.</summary>
    internal static int WeightStageWords(TileLayout layout) => layout.Rows * WeightStride / 2;

    /// <summary>As <see cref="TensorCoreConvolutionKernel.Run{TTile, TFunction, TIsa}"/>, whose parameters it takes, but
    /// <paramref name="w"/> is the <see cref="RowSegmentWeights"/> of the layer (16-byte aligned).</summary>
    /// <typeparam name="TStride">The windows' stride (<see cref="UnitStride"/>, <see cref="DoubleStride"/>).</typeparam>
    public static void Run<TTile, TFunction, TIsa, TStride>(long x, long w, ArrayView<float> bias, ArrayView<float> residual, ArrayView<float> y,
        PointwiseGeometry g, Activation activation)
        where TTile : struct, ITensorCoreTile where TFunction : struct, IFusedFunction where TIsa : struct, ITensorCoreIsa where TStride : struct, IRowSegmentStride
    {
        var layout = new TileLayout(default(TTile).WarpRows);
        int stride = default(TStride).Stride;
        int inputBase = 2 * WeightStageWords(layout), halfBase = inputBase + 2 * RowSegmentInputs.StageWords(layout, stride);
        // One allocation (see ITensorCoreIsa.SharedBase): weight stages, input stages, then the B tile [k][column] in halves.
        var tiles = SharedMemory.Allocate<uint>(halfBase + KStep * layout.InputStride / 2);
        var o = new TileOrigin(layout, g);
        int kEnd = o.KEnd, channels = g.Window.Channels;
        uint shared = default(TIsa).SharedBase(), inputs = shared + 4u * (uint)inputBase;
        bool aligned = g.InputChunks != 0;
        var weightCopies = new RowSegmentWeightCopies(layout, w, g, o.M0, o.Thread);
        var inputCopies = new RowSegmentInputs(layout, x, g, o.Image, o.P0, o.Thread, stride);
        var step = KernelRowStep.At(o.KBegin, channels);
        weightCopies.Issue<TIsa>(tiles, shared, 0, o.KBegin);
        inputCopies.Issue<TIsa>(tiles, inputs, 0, step, aligned);
        default(TIsa).Commit();
        var fragments = new HalfFragments(layout, shared, halfBase, o.Warp, o.Lane, WeightStride);
        WarpTile acc = default;
        int stage = 0;
        for (int k0 = o.KBegin; k0 < kEnd; k0 += KStep)
        {
            default(TIsa).WaitAll();
            // This stage's copies are visible, and every warp is done with the other stage and the B tile (last k-step's).
            Group.Barrier();
            var next = step.Next(channels);
            if (k0 + KStep < kEnd)
            {
                weightCopies.Issue<TIsa>(tiles, shared, 1 - stage, k0 + KStep);
                inputCopies.Issue<TIsa>(tiles, inputs, 1 - stage, next, aligned);
            }
            default(TIsa).Commit();
            inputCopies.Round<TIsa>(tiles, inputs, inputBase, halfBase, stage);
            Group.Barrier();
            fragments.MultiplyThree<TIsa>(tiles, ref acc, stage);
            stage = 1 - stage;
            step = next;
        }
        o.Store<TFunction>(acc, bias, residual, y, g, activation);
    }
}

/// <summary>Where a row-segment k-step (<see cref="RowSegmentConvolutionKernel"/>) lies: its kernel row and first channel.</summary>
public readonly record struct KernelRowStep(int KernelRow, int Channel)
{
    /// <summary>The k-step from reduction row <paramref name="k0"/> (a multiple of 48) of a layer of
    /// <paramref name="channels"/> input channels.</summary>
    public static KernelRowStep At(int k0, int channels)
    {
        int segment = k0 / 3, row = segment / channels;
        return new KernelRowStep(row, segment - row * channels);
    }

    public KernelRowStep Next(int channels) =>
        Channel + RowSegmentConvolutionKernel.StepChannels < channels ? this with { Channel = Channel + RowSegmentConvolutionKernel.StepChannels } : new(KernelRow + 1, 0);
}

/// <summary>The global byte address of one value a thread copies, and whether it copies it (else a zero).</summary>
internal readonly record struct WordSource(long Address, bool Valid);

/// <summary>The stride of a row-segment GEMM's windows, 1 or 2, as a type so that each kernel is compiled for one.</summary>
public interface IRowSegmentStride
{
    int Stride { get; }
}

public readonly struct UnitStride : IRowSegmentStride
{
    public int Stride => 1;
}

public readonly struct DoubleStride : IRowSegmentStride
{
    public int Stride => 2;
}

/// <summary>One thread's share of a row-segment k-step's inputs (<see cref="RowSegmentConvolutionKernel"/>) for a tile of C
/// columns and windows of stride s: its 4 output pixels, p0 + 4 (t % (C / 4)), on channels t / (C / 4) + (512 / C) i of
/// the k-step (2 passes for 64 columns, 4 for 128); for each, the 4·s input values under them (s chunks of 4, from
/// column s·x) copied into the FP32 stage, [channel][4 words, s·C words, 4 words]. Warp 0 also copies, for each
/// channel, the input value left of the tile's first chunk (word 3 of a channel row) and, for stride 1, the one right of
/// its last (word C + 4). Then the same thread rounds its chunks into the B tile's three rows of their channel, one a
/// kernel column: for stride 1 (left, v0, v1, v2), (v0 … v3), (v1, v2, v3, right), for stride 2 with u the second chunk
/// (left, v1, v3, u1), (v0, v2, u0, u2), (v1, v3, u1, u3); the neighbours zero at the image's left and right edges. Rows
/// above and below the image, and pixels past the last, are copied as zeros.</summary>
internal readonly struct RowSegmentInputs
{
    private const int GroupSize = TensorCoreConvolutionKernel.GroupSize;
    private readonly long _image, _plane, _pixelColumn;
    private readonly int _outRow, _width, _height, _stride, _rowsAtOnce, _passes, _channel, _column, _columns, _stageRow, _bRow;
    private readonly int _edgeChannel, _edgeOutRow, _edgeColumn, _edgeWord;
    private readonly bool _pixelValid, _edgeValid, _copiesEdge, _imageLeft, _imageRight;

    /// <param name="stride">The windows' stride, 1 or 2 (<see cref="RowSegmentConvolutionKernel.Fits"/>).</param>
    public RowSegmentInputs(TileLayout layout, long x, PointwiseGeometry g, int n, int p0, int t, int stride)
    {
        var win = g.Window;
        _stride = stride;
        _columns = layout.Columns;
        int chunks = _columns / 4;
        _bRow = layout.InputStride;
        _stageRow = StageRow(layout, stride);
        _rowsAtOnce = GroupSize / chunks;
        _passes = RowSegmentConvolutionKernel.StepChannels / _rowsAtOnce;
        _channel = t / chunks;
        _column = 4 * (t % chunks);
        _width = win.Width;
        _height = win.Height;
        _plane = (long)win.Height * win.Width;
        _image = x + 4L * PointwiseInput.ImageStart(g.InImageStride, n, win.Channels * _plane);
        int pixel = p0 + _column;
        _pixelValid = pixel < g.Pixels;
        _outRow = g.ByOutWidth.Divide(pixel);
        int x0 = pixel - _outRow * win.OutWidth;
        _pixelColumn = stride * x0;
        _imageLeft = x0 == 0;
        _imageRight = x0 + 4 == win.OutWidth;
        // Warp 0: channel c's value left of the tile's first chunk (lane c for stride 2, 2c for stride 1) and right of
        // its last (lane 2c + 1, stride 1 only).
        _copiesEdge = t < (3 - stride) * RowSegmentConvolutionKernel.StepChannels;
        _edgeChannel = t / (3 - stride);
        bool right = stride == 1 && t % 2 == 1;
        int edgePixel = right ? p0 + _columns - 4 : p0;
        _edgeOutRow = g.ByOutWidth.Divide(edgePixel);
        _edgeColumn = stride * (edgePixel - _edgeOutRow * win.OutWidth) + (right ? 4 : -1);
        _edgeValid = edgePixel < g.Pixels & (uint)_edgeColumn < (uint)win.Width;
        _edgeWord = _edgeChannel * _stageRow + (right ? _columns + 4 : 3);
    }

    /// <summary>Words of a channel row of the FP32 stage: 4 before, the tile's input columns, 4 after.</summary>
    private static int StageRow(TileLayout layout, int stride) => stride * layout.Columns + 8;

    /// <summary>Words of one FP32 input stage: 16 channel rows.</summary>
    public static int StageWords(TileLayout layout, int stride) => RowSegmentConvolutionKernel.StepChannels * StageRow(layout, stride);

    /// <summary>How many output chunks a thread copies and rounds a k-step.</summary>
    public int Passes => _passes;

    /// <summary>Input chunks of 4 values an output chunk reads: the stride.</summary>
    public int ChunksPerPass => _stride;

    /// <summary>Whether this thread also copies a tile edge's neighbour value.</summary>
    public bool CopiesEdge => _copiesEdge;

    /// <summary>Where input chunk <paramref name="q"/> of output chunk <paramref name="i"/> of k-step
    /// <paramref name="s"/> lies in global memory: its channel's input row (stride × the output row + kernel row − 1) from
    /// stride × the output column on; not valid above or below the image or past the pixels.</summary>
    public QuadSource Chunk(KernelRowStep s, int i, int q) =>
        new(_image + 4L * ((s.Channel + _channel + i * _rowsAtOnce) * _plane + (long)InputRow(_outRow, s) * _width + _pixelColumn + 4 * q),
            _pixelValid & (uint)InputRow(_outRow, s) < (uint)_height);

    /// <summary>The word of the input stages (from the first stage's word 0) that chunk goes to.</summary>
    public int ChunkWord(int stage, int i, int q) =>
        stage * RowSegmentConvolutionKernel.StepChannels * _stageRow + (_channel + i * _rowsAtOnce) * _stageRow + 4 + _stride * _column + 4 * q;

    /// <summary>The edge value this thread copies (where <see cref="CopiesEdge"/>).</summary>
    public WordSource Edge(KernelRowStep s) =>
        new(_image + 4L * ((s.Channel + _edgeChannel) * _plane + (long)InputRow(_edgeOutRow, s) * _width + _edgeColumn),
            _edgeValid & (uint)InputRow(_edgeOutRow, s) < (uint)_height);

    public int EdgeWord(int stage) => stage * RowSegmentConvolutionKernel.StepChannels * _stageRow + _edgeWord;

    private int InputRow(int outRow, KernelRowStep s) => _stride * outRow + s.KernelRow - 1;

    /// <summary>The half (from the B tile's first) where output chunk <paramref name="i"/>'s row of kernel column
    /// <paramref name="kx"/> starts.</summary>
    public int TargetHalf(int i, int kx) => (3 * (_channel + i * _rowsAtOnce) + kx) * _bRow + _column;

    /// <summary>Whether the chunk's left (right) neighbour chunk in the tile is the previous (next) lane's of the same
    /// pass: all but the tile's first (last) chunk of a channel row, whose neighbour value is the edge copy.</summary>
    public bool LeftInWarp => _column > 0;
    public bool RightInWarp => _column + 4 < _columns;

    /// <summary>Whether the chunk starts an image row (its left neighbour is padding) or ends one (its right).</summary>
    public bool ImageLeft => _imageLeft;
    public bool ImageRight => _imageRight;

    /// <summary>Issues k-step <paramref name="s"/>'s copies into stage <paramref name="stage"/> of the input stages at
    /// shared byte address <paramref name="inputs"/>: 16 bytes a chunk where <paramref name="aligned"/>, else 4 copies.</summary>
    public void Issue<TIsa>(ArrayView<uint> tiles, uint inputs, int stage, KernelRowStep s, bool aligned) where TIsa : struct, ITensorCoreIsa
    {
        for (int i = 0; i < _passes; i++)
            for (int q = 0; q < _stride; q++)
            {
                var chunk = Chunk(s, i, q);
                uint target = inputs + 4u * (uint)ChunkWord(stage, i, q);
                long source = chunk.Valid ? chunk.Address : _image;
                if (aligned) default(TIsa).Copy16(tiles, target, source, chunk.Valid);
                else
                    for (int v = 0; v < 4; v++) default(TIsa).Copy(tiles, target + 4u * (uint)v, source + 4 * v, chunk.Valid);
            }
        if (!_copiesEdge) return;
        var edge = Edge(s);
        default(TIsa).Copy(tiles, inputs + 4u * (uint)EdgeWord(stage), edge.Valid ? edge.Address : _image, edge.Valid);
    }

    /// <summary>Rounds this thread's chunks of input stage <paramref name="stage"/> (the stages from word
    /// <paramref name="inputBase"/> of <paramref name="tiles"/>, shared byte address <paramref name="inputs"/>) into their
    /// three kernel columns' rows of the B tile (from word <paramref name="halfBase"/>).</summary>
    public void Round<TIsa>(ArrayView<uint> tiles, uint inputs, int inputBase, int halfBase, int stage) where TIsa : struct, ITensorCoreIsa
    {
        int rowWords = _bRow / 2;
        for (int i = 0; i < _passes; i++)
        {
            int at = ChunkWord(stage, i, 0);
            var v = default(TIsa).SharedQuad(tiles, inputs + 4u * (uint)at);
            var u = _stride == 2 ? default(TIsa).SharedQuad(tiles, inputs + 4u * (uint)(at + 4)) : v;
            // The neighbours inside the tile are the adjacent lanes' chunks (LeftInWarp): a shuffle each, where reading
            // them from shared memory, a word every 16 bytes, would meet 4-way bank conflicts.
            float left = Warp.ShuffleUp(u.W, 1), right = Warp.ShuffleDown(v.X, 1);
            if (!LeftInWarp) left = Interop.IntAsFloat(tiles[inputBase + at - 1]);
            if (!RightInWarp) right = Interop.IntAsFloat(tiles[inputBase + at + 4]);
            if (_imageLeft) left = 0f;
            if (_imageRight) right = 0f;
            int row = halfBase + TargetHalf(i, 0) / 2;
            Column(0, left, v, u, right).Store<TIsa>(tiles, row);
            Column(1, left, v, u, right).Store<TIsa>(tiles, row + rowWords);
            Column(2, left, v, u, right).Store<TIsa>(tiles, row + 2 * rowWords);
        }
    }

    /// <summary>The B row of kernel column <paramref name="kx"/> for an output chunk read as v (and u, stride 2).</summary>
    public Quad Column(int kx, float left, Quad v, Quad u, float right) =>
        _stride == 2 ? StridedKernelColumn(kx, left, v, u) : KernelColumn(kx, left, v, right);

    /// <summary>A stride-1 chunk's values v under kernel column <paramref name="kx"/>: each of its 4 pixels' tap kx − 1
    /// columns off, the first or last from the neighbour <paramref name="left"/> or <paramref name="right"/>.</summary>
    public static Quad KernelColumn(int kx, float left, Quad v, float right) =>
        kx == 0 ? new Quad(left, v.X, v.Y, v.Z) : kx == 1 ? v : new Quad(v.Y, v.Z, v.W, right);

    /// <summary>A stride-2 output chunk under kernel column <paramref name="kx"/>: input columns 2x + kx − 1 of its 4
    /// pixels x, from its two input chunks v and u and the neighbour <paramref name="left"/>.</summary>
    public static Quad StridedKernelColumn(int kx, float left, Quad v, Quad u) =>
        kx == 0 ? new Quad(left, v.Y, v.W, u.Y) : kx == 1 ? new Quad(v.X, v.Z, u.X, u.Z) : new Quad(v.Y, v.W, u.Y, u.W);
}

/// <summary>One thread's share of a row-segment k-step's weights (<see cref="RowSegmentConvolutionKernel"/>): row
/// t / (128 / R) of a tile of R rows (out channels), its 48 halves (96 bytes) as 6 chunks of 16 bytes, chunks
/// t % (128 / R) + (128 / R) i below 6 (3 a thread for 64 rows, 1 or 2 for 32), copied into the stage, [row][k],
/// <see cref="RowSegmentConvolutionKernel.WeightStride"/> halves a row; rows past the out channels as zeros.</summary>
internal readonly struct RowSegmentWeightCopies
{
    private const int RowChunks = RowSegmentConvolutionKernel.KStep / 8;
    private readonly long _w, _row;
    private readonly int _threadsPerRow, _first, _copies, _rowInTile, _stageBytes;
    private readonly bool _rowValid;

    public RowSegmentWeightCopies(TileLayout layout, long w, PointwiseGeometry g, int m0, int t)
    {
        _threadsPerRow = TensorCoreConvolutionKernel.GroupSize / layout.Rows;
        _rowInTile = t / _threadsPerRow;
        _first = t % _threadsPerRow;
        _copies = (RowChunks + _threadsPerRow - 1) / _threadsPerRow;
        _w = w;
        _row = w + 2L * (m0 + _rowInTile) * g.Channels;
        _rowValid = m0 + _rowInTile < g.OutChannels;
        _stageBytes = 4 * RowSegmentConvolutionKernel.WeightStageWords(layout);
    }

    /// <summary>How many chunk places a thread has a k-step (<see cref="Exists"/> says which it copies).</summary>
    public int Copies => _copies;

    /// <summary>Whether chunk place <paramref name="i"/> is one of the row's 6 chunks (past them lies the next row).</summary>
    public bool Exists(int i) => Chunk(i) < RowChunks;

    /// <summary>Which of its row's chunks chunk place <paramref name="i"/> is.</summary>
    private int Chunk(int i) => _first + _threadsPerRow * i;

    /// <summary>Where chunk <paramref name="i"/> of the k-step from <paramref name="k0"/> lies; not valid past the out channels.</summary>
    public QuadSource Source(int k0, int i) => new(_row + 2L * k0 + 16 * Chunk(i), _rowValid);

    /// <summary>Its byte offset in the weight stages.</summary>
    public int TargetByte(int stage, int i) => stage * _stageBytes + 2 * _rowInTile * RowSegmentConvolutionKernel.WeightStride + 16 * Chunk(i);

    public void Issue<TIsa>(ArrayView<uint> tiles, uint shared, int stage, int k0) where TIsa : struct, ITensorCoreIsa
    {
        for (int i = 0; i < _copies; i++)
        {
            if (!Exists(i)) continue;
            var source = Source(k0, i);
            default(TIsa).Copy16(tiles, shared + (uint)TargetByte(stage, i), source.Valid ? source.Address : _w, source.Valid);
        }
    }
}

/// <summary>Convolution weights [out channels, channels, 3, 3] (ONNX's order) as <see cref="RowSegmentConvolutionKernel"/>
/// reads them: [out channels, kernel row, channels, kernel column] in FP16, two halves a 32-bit word (the lower one first),
/// as float bit patterns to upload as they are. Done once, when a plan is built.</summary>
public static class RowSegmentWeights
{
    public static float[] From(ReadOnlySpan<double> w, int outChannels, int channels)
    {
        if (w.Length != (long)outChannels * channels * 9)
            throw new ArgumentException($"{w.Length} weights for {outChannels} × {channels} × 3 × 3", nameof(w));
        var halves = new ushort[w.Length];
        for (int m = 0; m < outChannels; m++)
            for (int c = 0; c < channels; c++)
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++)
                        halves[((long)m * 3 + ky) * channels * 3 + c * 3 + kx] = BitConverter.HalfToUInt16Bits((System.Half)w[((m * channels + c) * 3 + ky) * 3 + kx]);
        var words = new float[(halves.Length + 1) / 2];
        for (int i = 0; i < halves.Length; i += 2)
            words[i / 2] = BitConverter.Int32BitsToSingle(halves[i] | (i + 1 < halves.Length ? halves[i + 1] << 16 : 0));
        return words;
    }
}
