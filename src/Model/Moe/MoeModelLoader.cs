using MoeDetect.Model.Decoding;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Input;
using MoeDetect.Model.Loading;

namespace MoeDetect.Model.Moe;

/// <summary>Loads a <c>.moedet</c> file into a detector: input spec, classes and decoder from the manifest, and the
/// sparse engine.</summary>
public static class MoeModelLoader
{
    public static DetectorModel Load(string path, EngineRequest request)
    {
        var file = MoeModelFile.Open(path);
        var m = file.Manifest;
        var input = Input(file);
        IDetectionDecoder decoder = m.Decoder switch
        {
            CenterNetDecoder.KindName => new CenterNetDecoder(m.Classes!, m.DecoderOutputs![0]),
            YoloV8Decoder.KindName => new YoloV8Decoder(m.Classes!, m.DecoderOutputs![0]),
            YoloV5Decoder.KindName => new YoloV5Decoder(m.Classes!, m.DecoderOutputs![0]),
            _ => throw new InvalidModelException($"'{path}': decoder '{m.Decoder}' is not supported in model files (use centernet, yolov8 or yolov5)"),
        };
        int[] itemShape = input.Layout == TensorLayout.Nhwc ? [input.Height, input.Width, 3] : [3, input.Height, input.Width];
        var engine = Engine(file, request, itemShape);
        return new DetectorModel(path, input, m.Classes!, decoder, engine, isMixtureOfExperts: true);
    }

    /// <summary><c>--engine ilgpu</c> (on a GPU or <c>auto</c>) runs the model with the project's kernels; when
    /// <c>auto</c> finds no GPU (already warned) the model runs on ONNX Runtime on the CPU.</summary>
    private static IRoutedEngine Engine(MoeModelFile file, EngineRequest request, int[] itemShape)
    {
        if (request.Engine == "ilgpu" && request.Device != ComputeDevice.Cpu)
            return (IRoutedEngine?)Ilgpu.Moe.MoeIlgpuEngine.ForRequest(file, request, itemShape)
                ?? new MoeOrtEngine(file, request with { Device = ComputeDevice.Cpu }, itemShape);
        return new MoeOrtEngine(file, request, itemShape);
    }

    /// <summary>The input the model file's manifest describes.</summary>
    public static InputSpec Input(MoeModelFile file)
    {
        var input = file.Manifest.Input!;
        try
        {
            return InputSpec.FromJson(input.ToJsonString(), input["name"]!.GetValue<string>(),
                input["width"]!.GetValue<int>(), input["height"]!.GetValue<int>());
        }
        catch (InvalidDataException e)
        {
            throw new InvalidModelException($"'{file.Path}': input: {e.Message}", e);
        }
    }
}
