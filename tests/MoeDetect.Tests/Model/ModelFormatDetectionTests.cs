using MoeDetect.Model;
using MoeDetect.Model.Decoding;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Input;
using MoeDetect.Model.Loading;
using MoeDetect.Tests.Support;

namespace MoeDetect.Tests.Model;

public class ModelFormatDetectionTests
{
    private readonly string _folder = TestPaths.NewTempFolder();
    private static readonly EngineRequest Cpu = new(ComputeDevice.Cpu, Threads: 1);
    private static readonly Dictionary<string, string> ThreeNames = new() { ["names"] = "{0: 'cat', 1: 'dog', 2: 'bird'}" };

    [Fact]
    public void Ultralytics_v8_layout_is_recognised_with_names_and_letterbox_defaults()
    {
        var path = TinyDetectorGraphs.Write(_folder, "v8.onnx", [1, 3, 64, 64], "output0", new float[7 * 10], [1, 7, 10], ThreeNames);
        using var model = ModelLoader.Load(path, Cpu);
        Assert.Equal(YoloV8Decoder.KindName, model.Decoder.Kind);
        Assert.Equal(["cat", "dog", "bird"], model.ClassNames);
        Assert.Equal((64, 64, TensorLayout.Nchw, ChannelOrder.Rgb), (model.Input.Width, model.Input.Height, model.Input.Layout, model.Input.Order));
        Assert.Equal([114f, 114f, 114f], model.Input.Pad);
    }

    [Fact]
    public void Yolov5_layout_is_recognised_from_the_shape_alone()
    {
        var path = TinyDetectorGraphs.Write(_folder, "v5.onnx", [1, 3, 32, 32], "output", new float[12 * 8], [1, 12, 8]);
        using var model = ModelLoader.Load(path, Cpu);
        Assert.Equal(YoloV5Decoder.KindName, model.Decoder.Kind);
        Assert.Equal(3, model.ClassNames.Count);   // 8 = 5 + 3 classes
        Assert.Equal("class2", model.ClassNames[2]);
    }

    [Fact]
    public void Unexpected_output_shape_is_rejected_naming_the_shape()
    {
        var path = TinyDetectorGraphs.Write(_folder, "flat.onnx", [1, 3, 32, 32], "scores", new float[10], [1, 10]);
        var e = Assert.Throws<InvalidModelException>(() => ModelLoader.Load(path, Cpu));
        Assert.Contains("scores[1,10]", e.Message);
        Assert.Contains("supported are", e.Message);
    }

    [Fact]
    public void File_that_is_not_onnx_is_rejected_clearly()
    {
        var path = Path.Combine(_folder, "garbage.onnx");
        File.WriteAllBytes(path, Enumerable.Range(0, 4096).Select(i => (byte)(i * 7919)).ToArray());
        var e = Assert.Throws<InvalidModelException>(() => ModelLoader.Load(path, Cpu));
        Assert.StartsWith($"'{path}' is not a valid ONNX model", e.Message);
    }

    [Fact]
    public void Missing_model_file_and_unsupported_extension_are_named()
    {
        Assert.Contains("model file not found", Assert.Throws<InvalidModelException>(() => ModelLoader.Load(Path.Combine(_folder, "none.onnx"), Cpu)).Message);
        var pt = Path.Combine(_folder, "weights.pt");
        File.WriteAllText(pt, "not a model");
        Assert.Contains("unsupported model file", Assert.Throws<InvalidModelException>(() => ModelLoader.Load(pt, Cpu)).Message);
    }

    [Fact]
    public void Gpu_request_without_a_cuda_provider_is_an_error_and_auto_falls_back_with_a_warning()
    {
        var path = TinyDetectorGraphs.Write(_folder, "v8g.onnx", [1, 3, 64, 64], "output0", new float[7 * 10], [1, 7, 10], ThreeNames);
        var e = Assert.Throws<MoeDetectException>(() => ModelLoader.Load(path, new EngineRequest(ComputeDevice.Gpu)));
        Assert.Contains("--device gpu", e.Message);
        Assert.Contains("CUDA", e.Message);

        var warnings = new List<string>();
        using var model = ModelLoader.Load(path, new EngineRequest(ComputeDevice.Auto, Warn: warnings.Add));
        Assert.Equal("onnxruntime-cpu", model.Engine.Name);
        Assert.Contains(warnings, w => w.Contains("running on the CPU"));
    }

    [Fact]
    public void Input_size_can_change_only_for_dynamic_graphs()
    {
        var fixedPath = TinyDetectorGraphs.Write(_folder, "fixed.onnx", [1, 3, 64, 64], "output0", new float[7 * 10], [1, 7, 10], ThreeNames);
        Assert.Contains("fixed input", Assert.Throws<MoeDetectException>(() => ModelLoader.Load(fixedPath, Cpu, inputSize: 128)).Message);
        var dynamicPath = TinyDetectorGraphs.Write(_folder, "dyn.onnx", [1, 3, -1, -1], "output0", new float[7 * 10], [1, 7, 10], ThreeNames);
        using var model = ModelLoader.Load(dynamicPath, Cpu, inputSize: 128);
        Assert.Equal((128, 128), (model.Input.Width, model.Input.Height));
    }

    [SkippableFact]
    public void Bundled_default_model_is_the_converted_centernet()
    {
        Skip.IfNot(File.Exists(TestPaths.DefaultModel), $"{TestPaths.DefaultModel} is not present");
        using var model = ModelLoader.Load(TestPaths.DefaultModel, Cpu);
        Assert.Equal(CenterNetDecoder.KindName, model.Decoder.Kind);
        Assert.Equal(80, model.ClassNames.Count);
        Assert.Equal("person", model.ClassNames[0]);
        Assert.Equal((512, 512, TensorLayout.Nhwc, ChannelOrder.Rgb), (model.Input.Width, model.Input.Height, model.Input.Layout, model.Input.Order));
    }
}
