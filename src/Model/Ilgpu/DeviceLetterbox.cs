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
}

/// <summary>Preprocessing on the device: uploads a batch of BGR frames (bytes, 4× less than floats) and writes the
/// letterboxed, normalised network input in one kernel pass, reproducing OpenCV's INTER_LINEAR resize
/// (see <see cref="LetterboxKernel"/>). Buffers grow to the largest batch seen and are kept.</summary>
internal sealed class DeviceLetterbox(KernelLibrary kernels, InputSpec spec) : IDisposable
{
    private MemoryBuffer1D<byte, Stride1D.Dense>? _pixels;
    private MemoryBuffer1D<LetterboxFrame, Stride1D.Dense>? _frames;
    private MemoryBuffer1D<int, Stride1D.Dense>? _tableIndex, _tableWeight;

    public InputSpec Spec => spec;

    /// <summary>Queues the preprocessing of <paramref name="images"/> into <paramref name="target"/> (3·W·H floats per
    /// image) and returns each image's letterbox. The copies are synchronous; the kernel is queued on the stream.</summary>
    public LetterboxTransform[] Fill(IReadOnlyList<BgrImage> images, ArrayView<float> target)
    {
        var letterboxes = new LetterboxTransform[images.Count];
        var frames = new LetterboxFrame[images.Count];
        var index = new List<int>();
        var weight = new List<int>();
        long bytes = 0;
        for (int i = 0; i < images.Count; i++)
        {
            var image = images[i];
            if (image.Width <= 0 || image.Height <= 0 || image.Stride < 3 * image.Width || image.Pixels.Length < (long)image.Stride * (image.Height - 1) + 3 * image.Width)
                throw new ArgumentException($"frame {i}: {image.Pixels.Length} bytes do not hold a {image.Width}x{image.Height} BGR image with stride {image.Stride}");
            var lb = letterboxes[i] = LetterboxTransform.Create(image.Width, image.Height, spec.Width, spec.Height, spec.CenteredLetterbox);
            frames[i] = new LetterboxFrame
            {
                SourceOffset = checked((int)bytes), SourceStride = image.Stride, SourceWidth = image.Width, SourceHeight = image.Height,
                ResizedWidth = lb.ResizedWidth, ResizedHeight = lb.ResizedHeight, OffsetX = lb.OffsetX, OffsetY = lb.OffsetY,
                ColumnTable = index.Count, RowTable = index.Count + lb.ResizedWidth,
            };
            OpenCvLinearTable.Append(image.Width, lb.ResizedWidth, clampWeights: true, index, weight);
            OpenCvLinearTable.Append(image.Height, lb.ResizedHeight, clampWeights: false, index, weight);
            bytes += image.Pixels.Length;
        }
        var accelerator = kernels.Accelerator;
        var pixels = Ensure(ref _pixels, accelerator, bytes);
        long offset = 0;
        foreach (var image in images)
        {
            DeviceMemory.Upload(pixels.View.SubView(offset, image.Pixels.Length), image.Pixels.Span);
            offset += image.Pixels.Length;
        }
        DeviceMemory.Upload(Ensure(ref _frames, accelerator, frames.Length).View, frames);
        var tableIndex = Ensure(ref _tableIndex, accelerator, index.Count);
        var tableWeight = Ensure(ref _tableWeight, accelerator, weight.Count);
        DeviceMemory.Upload(tableIndex.View, CollectionsMarshal.AsSpan(index));
        DeviceMemory.Upload(tableWeight.View, CollectionsMarshal.AsSpan(weight));
        kernels.Letterbox(images.Count * spec.Width * spec.Height, pixels.View, _frames!.View, tableIndex.View, tableWeight.View,
            target, Format(spec));
        return letterboxes;
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

    private static MemoryBuffer1D<T, Stride1D.Dense> Ensure<T>(ref MemoryBuffer1D<T, Stride1D.Dense>? buffer, Accelerator accelerator, long length)
        where T : unmanaged
    {
        if (buffer is null || buffer.Length < length)
        {
            buffer?.Dispose();
            buffer = accelerator.Allocate1D<T>(Math.Max(1, length));
        }
        return buffer;
    }

    public void Dispose()
    {
        _pixels?.Dispose();
        _frames?.Dispose();
        _tableIndex?.Dispose();
        _tableWeight?.Dispose();
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
