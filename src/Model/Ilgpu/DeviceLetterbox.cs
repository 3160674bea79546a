using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using MoeDetect.Kernels.Preprocessing;
using MoeDetect.Model.Input;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Decoded pixels of one frame: 8-bit BGR, interleaved, rows <see cref="Stride"/> bytes apart.</summary>
public readonly record struct BgrImage(ReadOnlyMemory<byte> Pixels, int Width, int Height, int Stride)
{
    public static BgrImage Packed(byte[] pixels, int width, int height) => new(pixels, width, height, 3 * width);

    /// <summary>Why the device cannot read this image, or null when it can.</summary>
    internal string? Problem =>
        Width <= 0 || Height <= 0 || Stride < 3 * Width || Pixels.Length < (long)Stride * (Height - 1) + 3 * Width
            ? $"{Pixels.Length} bytes do not hold a {Width}x{Height} BGR image with stride {Stride}"
            : null;
}

/// <summary>How a 4:2:0 frame stores its chroma: NV12, one plane of interleaved U,V pairs; I420, a U plane then a V
/// plane.</summary>
public enum Yuv420Layout { Nv12, I420 }

/// <summary>Decoded pixels of one 4:2:0 frame (8-bit BT.601 studio range, as hardware decoders and cameras give
/// them): a Y plane of Width × Height bytes, rows <see cref="YStride"/> apart, and chroma at half the width and half
/// the height, rows <see cref="ChromaStride"/> apart: NV12, U,V pairs from <see cref="UOffset"/> (so
/// <see cref="VOffset"/> = UOffset + 1); I420, a U plane at UOffset and a V plane at VOffset. Offsets are into
/// <see cref="Pixels"/>; width and height must be even. 1.5 bytes a pixel, half of <see cref="BgrImage"/>'s 3.</summary>
public readonly record struct Yuv420Image(ReadOnlyMemory<byte> Pixels, int Width, int Height, Yuv420Layout Layout,
    int YStride, int UOffset, int VOffset, int ChromaStride)
{
    public static Yuv420Image Nv12(ReadOnlyMemory<byte> pixels, int width, int height, int yStride, int uvOffset, int uvStride) =>
        new(pixels, width, height, Yuv420Layout.Nv12, yStride, uvOffset, uvOffset + 1, uvStride);

    public static Yuv420Image I420(ReadOnlyMemory<byte> pixels, int width, int height, int yStride, int uOffset, int vOffset, int chromaStride) =>
        new(pixels, width, height, Yuv420Layout.I420, yStride, uOffset, vOffset, chromaStride);

    /// <summary>The planes back to back without padding: what OpenCV's YUV2BGR_NV12 / YUV2BGR_I420 read from a
    /// (3/2·height) × width single-channel Mat.</summary>
    public static Yuv420Image Packed(ReadOnlyMemory<byte> pixels, int width, int height, Yuv420Layout layout)
    {
        int lumaBytes = width * height;
        return layout == Yuv420Layout.Nv12
            ? Nv12(pixels, width, height, width, lumaBytes, width)
            : I420(pixels, width, height, width, lumaBytes, lumaBytes + lumaBytes / 4, width / 2);
    }

    /// <summary>Bytes from one chroma sample of a plane to the next in a row: 2 where U and V interleave.</summary>
    internal int ChromaStep => Layout == Yuv420Layout.Nv12 ? 2 : 1;

    /// <summary>Why the device cannot read this image, or null when it can.</summary>
    internal string? Problem
    {
        get
        {
            if (Width <= 0 || Height <= 0 || Width % 2 != 0 || Height % 2 != 0)
                return $"a 4:2:0 image needs a positive, even width and height; got {Width}x{Height}";
            if (YStride < Width)
                return $"Y stride {YStride} is less than the width {Width}";
            if (ChromaStride < ChromaStep * (Width / 2))
                return $"{Layout} chroma stride {ChromaStride} is less than a chroma row's {ChromaStep * (Width / 2)} bytes";
            if (Layout == Yuv420Layout.Nv12 && VOffset != UOffset + 1)
                return $"NV12 interleaves U and V: V must follow U (VOffset {VOffset}, UOffset {UOffset})";
            if (UOffset < 0 || VOffset < 0)
                return $"chroma offsets must not be negative (U {UOffset}, V {VOffset})";
            long needed = Math.Max((long)YStride * (Height - 1) + Width, Math.Max(ChromaEnd(UOffset), ChromaEnd(VOffset)));
            return Pixels.Length < needed
                ? $"{Pixels.Length} bytes do not hold a {Width}x{Height} {Layout} image (Y stride {YStride}, U at {UOffset}, " +
                  $"V at {VOffset}, chroma stride {ChromaStride}): it needs {needed}"
                : null;
        }
    }

    /// <summary>One past the last byte of the chroma plane starting at <paramref name="offset"/>.</summary>
    private long ChromaEnd(int offset) => offset + (long)ChromaStride * (Height / 2 - 1) + ChromaStep * (Width / 2 - 1) + 1;
}

/// <summary>Preprocessing on the device: uploads a batch of decoded frames as they come (BGR, or 4:2:0: NV12/I420)
/// and writes the letterboxed, normalised network input in one kernel pass, reproducing OpenCV's colour conversion
/// and INTER_LINEAR resize (see <see cref="LetterboxKernel"/>, <see cref="YuvLetterboxKernel"/>). Bytes cross the
/// bus, 4× (BGR) or 8× (4:2:0) less than floats. Buffers grow to the largest batch seen and are kept.</summary>
internal sealed class DeviceLetterbox(KernelLibrary kernels, InputSpec spec) : IDisposable
{
    private MemoryBuffer1D<byte, Stride1D.Dense>? _pixels;
    private MemoryBuffer1D<LetterboxFrame, Stride1D.Dense>? _frames;
    private MemoryBuffer1D<Yuv420Frame, Stride1D.Dense>? _yuvFrames;
    private MemoryBuffer1D<int, Stride1D.Dense>? _tableIndex, _tableWeight;

    public InputSpec Spec => spec;

    /// <summary>Queues the preprocessing of <paramref name="images"/> into <paramref name="target"/> (3·W·H floats per
    /// image) and returns each image's letterbox. The copies are synchronous; the kernel is queued on the stream.</summary>
    public LetterboxTransform[] Fill(IReadOnlyList<BgrImage> images, ArrayView<float> target)
    {
        var batch = new FrameBatch(spec);
        var frames = new LetterboxFrame[images.Count];
        for (int i = 0; i < images.Count; i++)
        {
            var image = images[i];
            frames[i] = batch.Add(image.Problem, image.Pixels, image.Width, image.Height, image.Stride);
        }
        var (pixels, tableIndex, tableWeight) = Upload(batch);
        kernels.Letterbox(images.Count * spec.Width * spec.Height, pixels, Upload(ref _frames, frames), tableIndex, tableWeight,
            target, Format(spec));
        return batch.Letterboxes.ToArray();
    }

    /// <summary>As <see cref="Fill(IReadOnlyList{BgrImage}, ArrayView{float})"/>, for 4:2:0 frames: the result is
    /// OpenCV's YUV2BGR conversion of each frame, letterboxed.</summary>
    public LetterboxTransform[] Fill(IReadOnlyList<Yuv420Image> images, ArrayView<float> target)
    {
        var batch = new FrameBatch(spec);
        var frames = new Yuv420Frame[images.Count];
        for (int i = 0; i < images.Count; i++)
        {
            var image = images[i];
            var letterbox = batch.Add(image.Problem, image.Pixels, image.Width, image.Height, image.YStride);
            frames[i] = new Yuv420Frame
            {
                Letterbox = letterbox, UOffset = checked(letterbox.SourceOffset + image.UOffset), VOffset = checked(letterbox.SourceOffset + image.VOffset),
                ChromaStride = image.ChromaStride, ChromaStep = image.ChromaStep,
            };
        }
        var (pixels, tableIndex, tableWeight) = Upload(batch);
        kernels.YuvLetterbox(images.Count * spec.Width * spec.Height, pixels, Upload(ref _yuvFrames, frames), tableIndex, tableWeight,
            target, Format(spec));
        return batch.Letterboxes.ToArray();
    }

    /// <summary>The network input's size, layout and normalisation as the preprocessing kernels take them.</summary>
    public static TensorFormat Format(InputSpec spec)
    {
        bool rgb = spec.Order == ChannelOrder.Rgb;
        // The CPU path pads a byte canvas, so the pad value is rounded to a byte the same way.
        int Pad(int c) => (int)Math.Clamp(Math.Round(spec.Pad[c], MidpointRounding.ToEven), 0, 255);
        return new TensorFormat
        {
            Width = spec.Width, Height = spec.Height, Nhwc = spec.Layout == TensorLayout.Nhwc ? 1 : 0, SourceChannelOfFirst = rgb ? 2 : 0,
            Mean0 = spec.Mean[0], Mean1 = spec.Mean[1], Mean2 = spec.Mean[2],
            InvStd0 = 1 / spec.Std[0], InvStd1 = 1 / spec.Std[1], InvStd2 = 1 / spec.Std[2],
            Pad0 = Pad(rgb ? 0 : 2), Pad1 = Pad(1), Pad2 = Pad(rgb ? 2 : 0),
        };
    }

    /// <summary>Copies the batch's frames, back to back, and its interpolation tables to the device.</summary>
    private (ArrayView<byte> Pixels, ArrayView<int> TableIndex, ArrayView<int> TableWeight) Upload(FrameBatch batch)
    {
        var pixels = Ensure(ref _pixels, batch.Bytes);
        long offset = 0;
        foreach (var source in batch.Sources)
        {
            DeviceMemory.Upload(pixels.View.SubView(offset, source.Length), source.Span);
            offset += source.Length;
        }
        return (pixels.View, Upload(ref _tableIndex, CollectionsMarshal.AsSpan(batch.TableIndex)),
            Upload(ref _tableWeight, CollectionsMarshal.AsSpan(batch.TableWeight)));
    }

    private ArrayView<T> Upload<T>(ref MemoryBuffer1D<T, Stride1D.Dense>? buffer, ReadOnlySpan<T> values) where T : unmanaged
    {
        var view = Ensure(ref buffer, values.Length).View;
        DeviceMemory.Upload(view, values);
        return view;
    }

    private MemoryBuffer1D<T, Stride1D.Dense> Ensure<T>(ref MemoryBuffer1D<T, Stride1D.Dense>? buffer, long length)
        where T : unmanaged
    {
        if (buffer is null || buffer.Length < length)
        {
            buffer?.Dispose();
            buffer = kernels.Accelerator.Allocate1D<T>(Math.Max(1, length));
        }
        return buffer;
    }

    public void Dispose()
    {
        _pixels?.Dispose();
        _frames?.Dispose();
        _yuvFrames?.Dispose();
        _tableIndex?.Dispose();
        _tableWeight?.Dispose();
    }

    /// <summary>The host half of a batch, whatever its frames' format: where each frame's bytes go in the upload,
    /// its letterbox, and its interpolation tables.</summary>
    private sealed class FrameBatch(InputSpec spec)
    {
        public List<ReadOnlyMemory<byte>> Sources { get; } = [];
        public List<int> TableIndex { get; } = [];
        public List<int> TableWeight { get; } = [];
        public List<LetterboxTransform> Letterboxes { get; } = [];
        public long Bytes { get; private set; }

        /// <summary>Adds a frame whose first (or only) plane is <paramref name="width"/> × <paramref name="height"/>
        /// pixels, rows <paramref name="stride"/> bytes apart; throws naming the frame when <paramref name="problem"/>
        /// says it cannot be read.</summary>
        public LetterboxFrame Add(string? problem, ReadOnlyMemory<byte> pixels, int width, int height, int stride)
        {
            if (problem is not null) throw new ArgumentException($"frame {Sources.Count}: {problem}");
            var lb = LetterboxTransform.Create(width, height, spec.Width, spec.Height, spec.CenteredLetterbox);
            var frame = new LetterboxFrame
            {
                SourceOffset = checked((int)Bytes), SourceStride = stride, SourceWidth = width, SourceHeight = height,
                ResizedWidth = lb.ResizedWidth, ResizedHeight = lb.ResizedHeight, OffsetX = lb.OffsetX, OffsetY = lb.OffsetY,
                ColumnTable = TableIndex.Count, RowTable = TableIndex.Count + lb.ResizedWidth,
            };
            OpenCvLinearTable.Append(width, lb.ResizedWidth, clampWeights: true, TableIndex, TableWeight);
            OpenCvLinearTable.Append(height, lb.ResizedHeight, clampWeights: false, TableIndex, TableWeight);
            Sources.Add(pixels);
            Letterboxes.Add(lb);
            Bytes += pixels.Length;
            return frame;
        }
    }
}

/// <summary>OpenCV's INTER_LINEAR tables for one axis: for each destination position, the first source index and
/// its weight out of 2048, from the half-pixel mapping computed as OpenCV does (double scale, float offset).
/// Columns clamp at the borders (weight 2048 on the edge pixel); rows keep the raw weight and clamp the row
/// index in the kernel, as OpenCV does.</summary>
internal static class OpenCvLinearTable
{
    public static void Append(int source, int destination, bool clampWeights, List<int> index, List<int> weight)
    {
        double scale = 1.0 / ((double)destination / source);
        for (int d = 0; d < destination; d++)
        {
            float f = (float)((d + 0.5) * scale - 0.5);
            int s = (int)MathF.Floor(f);
            f -= s;
            if (clampWeights && s < 0) { f = 0; s = 0; }
            if (clampWeights && s >= source - 1) { f = 0; s = source - 1; }
            index.Add(s);
            weight.Add((int)MathF.Round((1f - f) * LetterboxKernel.WeightOne, MidpointRounding.ToEven));
        }
    }
}
