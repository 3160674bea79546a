using MoeDetect.Model.Decoding;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Engines.Cuda;
using MoeDetect.Model.Input;
using MoeDetect.Model.Loading;

namespace MoeDetect.Model.Moe;

/// <summary>Loads a <c>.moedet</c> file into a detector: input spec, classes and decoder from the manifest, and the
/// sparse engine: on the GPU with device binding (the default) <see cref="MoeBoundEngine"/>, tensors kept on the
/// GPU; otherwise <see cref="MoeOrtEngine"/> on host tensors (the CPU, or CUDA with --device-binding off).</summary>
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
        var engine = Engine(file, request, input, ItemShape(input));
        return new DetectorModel(path, input, m.Classes!, decoder, engine, isMixtureOfExperts: true);
    }

    /// <summary>One frame's input tensor shape, without the batch.</summary>
    public static int[] ItemShape(InputSpec input) =>
        input.Layout == TensorLayout.Nhwc ? [input.Height, input.Width, 3] : [3, input.Height, input.Width];

    /// <summary><c>--engine ilgpu</c> (on a GPU or <c>auto</c>) runs the model with the project's kernels, falling back
    /// to ONNX Runtime on the CPU when <c>auto</c> finds no GPU (already warned); otherwise ONNX Runtime: the
    /// device-resident engine on the GPU with device binding, the host-tensor engine elsewhere.</summary>
    private static IInferenceEngine Engine(MoeModelFile file, EngineRequest request, InputSpec input, int[] itemShape)
    {
        if (request.Engine == GpuEngines.Ilgpu && request.Device != ComputeDevice.Cpu)
            return (IInferenceEngine?)Ilgpu.Moe.MoeIlgpuEngine.ForRequest(file, request, itemShape)
                ?? new MoeOrtEngine(file, request with { Device = ComputeDevice.Cpu }, itemShape);
        if (!OrtSessionFactory.UseGpu(request, AppContext.BaseDirectory))
            return new MoeOrtEngine(file, request with { Device = ComputeDevice.Cpu }, itemShape);
        var cuda = request.Cuda ?? new CudaSettings();
        if (!cuda.DeviceBinding) return new MoeOrtEngine(file, request, itemShape);
        var engine = new MoeBoundEngine(file, input, request, cuda, new CudaTensorMemory(), Math.Max(request.Batch, 1));
        try
        {
            // The first GPU runs pick cuDNN algorithms and fill memory arenas; do that at load, not on the first frame.
            engine.PixelStaging.Clear();
            engine.RunPixels(engine.MaxBatch);
            return engine;
        }
        catch
        {
            engine.Dispose();
            throw;
        }
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
