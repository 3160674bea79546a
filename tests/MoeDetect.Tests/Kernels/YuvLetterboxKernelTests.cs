using System.Runtime.InteropServices;
using MoeDetect.Model.Ilgpu;
using MoeDetect.Model.Input;
using MoeDetect.Pipeline.Inference;
using MoeDetect.Tests.Support;
using OpenCvSharp;
using Xunit;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Kernels;

/// <summary>The 4:2:0 device preprocessing (YuvLetterboxKernel, ILGPU CPU accelerator) against OpenCV: frames made
/// I420 with Cv2.CvtColor (NV12 by interleaving its U and V planes) must give what OpenCV's YUV2BGR_NV12 /
/// YUV2BGR_I420 followed by the BGR preprocessing gives: the device BGR kernel's floats bit for bit, the CPU path
/// (Cv2.Resize) within the bound LetterboxKernelTests allows, and at scale 1 OpenCV's converted bytes exactly.</summary>
public sealed class YuvLetterboxKernelTests(YuvLetterboxKernelTests.CpuEngine fixture, ITestOutputHelper log)
    : IClassFixture<YuvLetterboxKernelTests.CpuEngine>
{
    /// <summary>One identity-graph engine on the CPU accelerator for the class (its kernels compile once).</summary>
    public sealed class CpuEngine : IDisposable
    {
        public IlgpuEngine Engine { get; } = IlgpuEngine.Load(LetterboxKernelTests.IdentityGraph(), "identity", IlgpuTarget.CpuAccelerator);

        public void Dispose() => Engine.Dispose();
    }

    private IlgpuEngine Engine => fixture.Engine;

    [SkippableTheory]
    [InlineData(TensorLayout.Nchw, ChannelOrder.Rgb, Yuv420Layout.Nv12)]
    [InlineData(TensorLayout.Nchw, ChannelOrder.Rgb, Yuv420Layout.I420)]
    [InlineData(TensorLayout.Nhwc, ChannelOrder.Bgr, Yuv420Layout.Nv12)]
    [InlineData(TensorLayout.Nhwc, ChannelOrder.Rgb, Yuv420Layout.I420)]
    public void Batch_of_real_frames_matches_OpenCV_conversion_then_letterbox(TensorLayout layout, ChannelOrder order, Yuv420Layout yuvLayout)
    {
        Skip.If(TestPaths.SharedMissing is not null, TestPaths.SharedMissing);
        var spec = new InputSpec("x", 128, 96, layout, order, [123.7f, 116.3f, 103.5f], [58.4f, 57.1f, 57.4f], [114, 100, 90], true);
        using var street = FirstFrame("pedestrians-720p.avi");
        using var cars = FirstFrame("car-detection.mp4");
        using var photo = Cv2.ImRead(Path.Combine(TestPaths.Coco128, "images", "000000000009.jpg"), ImreadModes.Color);
        using var small = street[new Rect(611, 301, 50, 38)];
        using var tall = street[new Rect(402, 100, 334, 518)];
        using var smallCars = cars[new Rect(300, 200, 96, 64)];
        // Down (1280×720, tall 334×518, the 640×480 photo) and up (50×38, 96×64); the last two with padded, odd strides.
        var sources = new (Mat Bgr, bool Padded)[] { (street, false), (small, false), (tall, false), (photo, true), (smallCars, true) };
        var yuvImages = new List<Yuv420Image>();
        var converted = new List<Mat>();
        try
        {
            foreach (var (bgr, padded) in sources)
            {
                var yuv = Yuv(bgr, yuvLayout);
                converted.Add(OpenCvBgr(yuv, bgr.Width, bgr.Height, yuvLayout));
                yuvImages.Add(padded ? Padded(yuv, bgr.Width, bgr.Height, yuvLayout) : Yuv420Image.Packed(yuv, bgr.Width, bgr.Height, yuvLayout));
            }
            var actual = Engine.Preprocess(yuvImages, spec, out var letterboxes);

            var deviceBgr = Engine.Preprocess(converted.Select(LetterboxKernelTests.ToBgr).ToList(), spec, out _);
            var (worstDevice, differingDevice) = Compare(actual, deviceBgr);
            log.WriteLine($"vs OpenCV's {yuvLayout} conversion + the device BGR kernel: max abs difference {worstDevice:E2}, {differingDevice} values differ");
            Assert.Equal(0, differingDevice);

            using var cpu = new FramePreprocessor(spec);
            var expected = new float[actual.Length];
            for (int i = 0; i < converted.Count; i++)
                Assert.Equal(cpu.Fill(converted[i], expected.AsSpan(i * spec.ValuesPerImage, spec.ValuesPerImage)), letterboxes[i]);
            var (worst, differing) = Compare(actual, expected);
            log.WriteLine($"vs OpenCV's {yuvLayout} conversion + Cv2.Resize: max abs difference {worst:E2} (one byte level = {1 / 57.1f:F4}); {differing} of {actual.Length} values differ");
            // The bound LetterboxKernelTests gives the BGR kernel: OpenCV's scalar row tail may round one level apart.
            Assert.True(worst <= 1.01f / 57.1f, $"max abs difference {worst}");
            Assert.True(differing < actual.Length / 1000, $"{differing} values differ");
        }
        finally
        {
            foreach (var m in converted) m.Dispose();
        }
    }

    /// <summary>At scale 1 the resize is the identity, so with mean 0 and std 1 in BGR order the floats are the converted
    /// bytes: every U,V pair (a 256×256 chroma plane) with luma over 0–255, against OpenCV's cvtColor, exactly.</summary>
    [Theory]
    [InlineData(Yuv420Layout.Nv12)]
    [InlineData(Yuv420Layout.I420)]
    public void Conversion_of_every_chroma_pair_equals_OpenCV_byte_for_byte(Yuv420Layout yuvLayout)
    {
        const int size = 512;
        var spec = new InputSpec("x", size, size, TensorLayout.Nhwc, ChannelOrder.Bgr, [0, 0, 0], [1, 1, 1], [0, 0, 0], true);
        var i420 = new byte[size * size * 3 / 2];
        new Random(7).NextBytes(i420.AsSpan(0, size * size));
        int half = size / 2, chroma = half * half;
        for (int cy = 0; cy < half; cy++)
            for (int cx = 0; cx < half; cx++)
            {
                i420[size * size + cy * half + cx] = (byte)cx;
                i420[size * size + chroma + cy * half + cx] = (byte)cy;
            }
        var yuv = yuvLayout == Yuv420Layout.Nv12 ? Nv12(i420, size, size) : i420;

        var actual = Engine.Preprocess([Yuv420Image.Packed(yuv, size, size, yuvLayout)], spec, out _);

        using var expected = OpenCvBgr(yuv, size, size, yuvLayout);
        var bytes = new byte[3 * size * size];
        Marshal.Copy(expected.Data, bytes, 0, bytes.Length);
        int differing = bytes.Where((b, i) => actual[i] != b).Count();
        log.WriteLine($"{yuvLayout}: {differing} of {bytes.Length} bytes differ from OpenCV's cvtColor");
        Assert.Equal(0, differing);
    }

    [Fact]
    public void Unreadable_frames_are_refused_naming_the_frame_and_the_problem()
    {
        var spec = new InputSpec("x", 32, 32, TensorLayout.Nchw, ChannelOrder.Rgb, [0, 0, 0], [1, 1, 1], [0, 0, 0], true);
        var good = Yuv420Image.Packed(new byte[64 * 48 * 3 / 2], 64, 48, Yuv420Layout.I420);
        string Refusal(Yuv420Image bad) => Assert.Throws<ArgumentException>(() => Engine.Preprocess([good, bad], spec, out _)).Message;

        Assert.Contains("frame 1: a 4:2:0 image needs a positive, even width and height; got 63x48",
            Refusal(Yuv420Image.Packed(new byte[64 * 48 * 3 / 2], 63, 48, Yuv420Layout.Nv12)));
        Assert.Contains("even width and height; got 64x47", Refusal(Yuv420Image.Packed(new byte[64 * 48 * 3 / 2], 64, 47, Yuv420Layout.I420)));
        Assert.Contains("frame 1: 4607 bytes do not hold a 64x48 I420 image",
            Refusal(Yuv420Image.Packed(new byte[64 * 48 * 3 / 2 - 1], 64, 48, Yuv420Layout.I420)));
        Assert.Contains("it needs 4608", Refusal(Yuv420Image.Packed(new byte[64 * 48 * 3 / 2 - 1], 64, 48, Yuv420Layout.Nv12)));
        Assert.Contains("Y stride 60 is less than the width 64", Refusal(Yuv420Image.Nv12(new byte[4608], 64, 48, 60, 3072, 64)));
        Assert.Contains("I420 chroma stride 31 is less than a chroma row's 32 bytes",
            Refusal(Yuv420Image.I420(new byte[4608], 64, 48, 64, 3072, 3840, 31)));
        Assert.Contains("NV12 interleaves U and V",
            Refusal(new Yuv420Image(new byte[4608], 64, 48, Yuv420Layout.Nv12, 64, 3072, 3074, 64)));
    }

    private static Mat FirstFrame(string video)
    {
        using var capture = new VideoCapture(TestPaths.SharedVideo(video));
        var frame = new Mat();
        Assert.True(capture.Read(frame), $"cannot read {video}");
        return frame;
    }

    private static (float Worst, int Differing) Compare(float[] actual, float[] expected)
    {
        float worst = 0; int differing = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            float d = Math.Abs(actual[i] - expected[i]);
            worst = Math.Max(worst, d);
            if (d > 0) differing++;
        }
        return (worst, differing);
    }

    /// <summary>The frame as OpenCV's BGR2YUV_I420 makes it, packed; for NV12 with its U and V planes interleaved.</summary>
    private static byte[] Yuv(Mat bgr, Yuv420Layout layout)
    {
        using var i420 = new Mat();
        Cv2.CvtColor(bgr, i420, ColorConversionCodes.BGR2YUV_I420);
        var bytes = new byte[bgr.Width * bgr.Height * 3 / 2];
        Marshal.Copy(i420.Data, bytes, 0, bytes.Length);
        return layout == Yuv420Layout.Nv12 ? Nv12(bytes, bgr.Width, bgr.Height) : bytes;
    }

    private static byte[] Nv12(byte[] i420, int width, int height)
    {
        int luma = width * height, chroma = luma / 4;
        var nv12 = i420[..luma].Concat(new byte[2 * chroma]).ToArray();
        for (int i = 0; i < chroma; i++)
        {
            nv12[luma + 2 * i] = i420[luma + i];
            nv12[luma + 2 * i + 1] = i420[luma + chroma + i];
        }
        return nv12;
    }

    /// <summary>OpenCV's YUV2BGR_NV12 / YUV2BGR_I420 of a packed frame.</summary>
    private static Mat OpenCvBgr(byte[] yuv, int width, int height, Yuv420Layout layout)
    {
        using var source = Mat.FromPixelData(height * 3 / 2, width, MatType.CV_8UC1, yuv);
        var bgr = new Mat();
        Cv2.CvtColor(source, bgr, layout == Yuv420Layout.Nv12 ? ColorConversionCodes.YUV2BGR_NV12 : ColorConversionCodes.YUV2BGR_I420);
        return bgr;
    }

    /// <summary>The packed frame's planes copied into a buffer as a decoder might hand them over: each plane at an odd
    /// offset, rows an odd number of bytes apart, padding filled with 0xEE so a read outside a row shows.</summary>
    private static Yuv420Image Padded(byte[] packed, int width, int height, Yuv420Layout layout)
    {
        int yStride = width + 9, chromaStride = layout == Yuv420Layout.Nv12 ? width + 3 : width / 2 + 5, chromaRow = layout == Yuv420Layout.Nv12 ? width : width / 2;
        int planes = layout == Yuv420Layout.Nv12 ? 1 : 2, chromaHeight = height / 2;
        int yOffset = 3, uOffset = yOffset + yStride * height + 7;
        int planeBytes = chromaStride * chromaHeight + 1;
        var pixels = Enumerable.Repeat((byte)0xEE, uOffset + planes * planeBytes).ToArray();
        for (int y = 0; y < height; y++)
            packed.AsSpan(y * width, width).CopyTo(pixels.AsSpan(yOffset + y * yStride));
        for (int p = 0; p < planes; p++)
            for (int y = 0; y < chromaHeight; y++)
                packed.AsSpan(width * height + p * chromaRow * chromaHeight + y * chromaRow, chromaRow)
                    .CopyTo(pixels.AsSpan(uOffset + p * planeBytes + y * chromaStride));
        var memory = pixels.AsMemory(yOffset);
        return layout == Yuv420Layout.Nv12
            ? Yuv420Image.Nv12(memory, width, height, yStride, uOffset - yOffset, chromaStride)
            : Yuv420Image.I420(memory, width, height, yStride, uOffset - yOffset, uOffset - yOffset + planeBytes, chromaStride);
    }
}
