using System.Runtime.InteropServices;
using MoeDetect.Model.Ilgpu;
using MoeDetect.Model.Input;
using MoeDetect.Pipeline.Inference;
using MoeDetect.Tests.Ilgpu;
using MoeDetect.Tests.Support;
using OpenCvSharp;
using Xunit;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Kernels;

/// <summary>The device preprocessing kernel (ILGPU CPU accelerator) against the CPU path, FramePreprocessor, which
/// resizes with OpenCV's Cv2.Resize INTER_LINEAR: a batch of frames of different sizes (down, up, odd, exact 2×,
/// same size), every layout and channel order.</summary>
public sealed class LetterboxKernelTests(ITestOutputHelper log)
{
    private static readonly (int W, int H)[] Sizes = [(1280, 720), (50, 37), (333, 517), (256, 192), (128, 96), (97, 601)];

    [Theory]
    [InlineData(TensorLayout.Nchw, ChannelOrder.Rgb)]
    [InlineData(TensorLayout.Nhwc, ChannelOrder.Rgb)]
    [InlineData(TensorLayout.Nhwc, ChannelOrder.Bgr)]
    public void Batch_of_mixed_sizes_matches_the_OpenCV_path(TensorLayout layout, ChannelOrder order)
    {
        var spec = new InputSpec("x", 128, 96, layout, order, [123.7f, 116.3f, 103.5f], [58.4f, 57.1f, 57.4f], [114, 100, 90], true);
        var mats = Sizes.Select((s, i) => RandomImage(s.W, s.H, i)).ToList();
        mats.Add(RealImage() ?? RandomImage(640, 480, 99));
        try
        {
            var images = mats.Select(ToBgr).ToList();
            using var engine = IlgpuEngine.Load(IdentityGraph(), "identity", IlgpuTarget.CpuAccelerator);
            var actual = engine.Preprocess(images, spec, out var letterboxes);

            using var cpu = new FramePreprocessor(spec);
            var expected = new float[actual.Length];
            for (int i = 0; i < mats.Count; i++)
            {
                var lb = cpu.Fill(mats[i], expected.AsSpan(i * spec.ValuesPerImage, spec.ValuesPerImage));
                Assert.Equal(lb, letterboxes[i]);
            }
            float worst = 0; int differing = 0;
            for (int i = 0; i < actual.Length; i++)
            {
                float d = Math.Abs(actual[i] - expected[i]);
                worst = Math.Max(worst, d);
                if (d > 1e-6f) differing++;
            }
            log.WriteLine($"{layout} {order}: max abs difference {worst:E2} (one byte level = {1 / 57.1f:F4}); {differing} of {actual.Length} values differ");
            // Exact up to one 8-bit level where OpenCV's scalar row tail rounds differently from its SIMD body.
            Assert.True(worst <= 1.01f / 57.1f, $"max abs difference {worst}");
            Assert.True(differing < actual.Length / 1000, $"{differing} values differ");
        }
        finally
        {
            foreach (var m in mats) m.Dispose();
        }
    }

    internal static byte[] IdentityGraph() =>
        new TinyOnnxGraph().Input("x", 3).Node("Identity", ["x"], ["y"]).Output("y").Build();

    private static Mat RandomImage(int width, int height, int seed)
    {
        // Smooth gradients plus noise: interpolation errors show up on both.
        var bytes = new byte[width * height * 3];
        var random = new Random(seed);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int c = 0; c < 3; c++)
                    bytes[(y * width + x) * 3 + c] = (byte)Math.Clamp((x * (c + 1) + y * 2) % 256 + random.Next(-20, 21), 0, 255);
        var mat = new Mat(height, width, MatType.CV_8UC3);
        Marshal.Copy(bytes, 0, mat.Data, bytes.Length);
        return mat;
    }

    private static Mat? RealImage()
    {
        var dir = Path.Combine(TestPaths.Coco128, "images");
        var file = Directory.Exists(dir) ? Directory.EnumerateFiles(dir).Order().FirstOrDefault() : null;
        return file is null ? null : Cv2.ImRead(file, ImreadModes.Color);
    }

    internal static BgrImage ToBgr(Mat mat)
    {
        int stride = (int)mat.Step();
        var bytes = new byte[stride * mat.Height];
        Marshal.Copy(mat.Data, bytes, 0, bytes.Length);
        return new BgrImage(bytes, mat.Width, mat.Height, stride);
    }
}
