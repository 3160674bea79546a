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
        int width = m.Input!["width"]!.GetValue<int>(), height = m.Input["height"]!.GetValue<int>();
        InputSpec input;
        try
        {
            input = InputSpec.FromJson(m.Input.ToJsonString(), m.Input["name"]!.GetValue<string>(), width, height);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidModelException($"'{path}': input: {e.Message}", e);
        }
        IDetectionDecoder decoder = m.Decoder switch
        {
            CenterNetDecoder.KindName => new CenterNetDecoder(m.Classes!, m.DecoderOutputs![0]),
            YoloV8Decoder.KindName => new YoloV8Decoder(m.Classes!, m.DecoderOutputs![0]),
            YoloV5Decoder.KindName => new YoloV5Decoder(m.Classes!, m.DecoderOutputs![0]),
            _ => throw new InvalidModelException($"'{path}': decoder '{m.Decoder}' is not supported in model files (use centernet, yolov8 or yolov5)"),
        };
        int[] itemShape = input.Layout == TensorLayout.Nhwc ? [height, width, 3] : [3, height, width];
        var engine = new MoeOrtEngine(file, request, itemShape);
        return new DetectorModel(path, input, m.Classes!, decoder, engine, isMixtureOfExperts: true);
    }
}
