using MoeDetect.Model.Ilgpu;
using MoeDetect.Model.Input;
using MoeDetect.Tests.Kernels;
using MoeDetect.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>The default model, models/centernet-mnv3.onnx, through the ILGPU engine on the CPU accelerator against
/// ONNX Runtime on one real coco128 image. Slow (minutes on the CPU accelerator): trait Category=Slow.</summary>
public sealed class EndToEndTests(ITestOutputHelper log)
{
    [Fact]
    [Trait("Category", "Slow")]
    public void Default_model_matches_onnx_runtime_on_a_real_image()
    {
        string modelPath = TestPaths.DefaultModel;
        string imagePath = Path.Combine(TestPaths.Coco128, "images", "000000000009.jpg");
        if (!File.Exists(modelPath) || !File.Exists(imagePath))
        {
            log.WriteLine($"skipped: needs {modelPath} and {imagePath}");
            return;
        }
        var model = File.ReadAllBytes(modelPath);
        var spec = new InputSpec("images", 512, 512, TensorLayout.Nhwc, ChannelOrder.Rgb, [0, 0, 0], [1, 1, 1], [0, 0, 0], true);
        using var mat = OpenCvSharp.Cv2.ImRead(imagePath);
        using var engine = IlgpuEngine.Load(model, modelPath, IlgpuTarget.CpuAccelerator);
        var input = engine.Preprocess([LetterboxKernelTests.ToBgr(mat)], spec, out _);
        var expected = OrtParity.RunOrt(model, [1, 512, 512, 3], input);
        var actual = engine.Run(input, 1);
        foreach (var (name, (values, shape)) in expected)
        {
            var tensor = actual.Tensor(name);
            Assert.Equal(shape, tensor.Shape);
            float worst = values.Zip(tensor.Data, (a, b) => Math.Abs(a - b)).Max();
            log.WriteLine($"{name}: max abs error {worst:E2}");
            Assert.True(worst < (name == "heatmap" ? 1e-4f : 0.05f), $"{name}: max abs error {worst}");
        }
    }
}
