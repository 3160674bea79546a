using MoeDetect.Model.Engines;
using MoeDetect.Model.Moe;

namespace MoeDetect.Model.Loading;

/// <summary>The one door models come in through: checks the file, picks the loader for its kind and the engine
/// for the requested device.</summary>
public static class ModelLoader
{
    public static DetectorModel Load(string path, EngineRequest request, int? inputSize = null)
    {
        if (!File.Exists(path))
            throw new InvalidModelException($"model file not found: {path} (pass --model <file.onnx>, or omit --model to use the default model)");
        var extension = System.IO.Path.GetExtension(path).ToLowerInvariant();
        if (extension == ".moedet")
            return MoeModelLoader.Load(path, request);
        if (extension is not ".onnx")
            throw new InvalidModelException($"unsupported model file '{path}': expected an ONNX model (.onnx) or a MoeDetect model (.moedet)");

        var (session, engineName) = OrtSessionFactory.Create(File.ReadAllBytes(path), path, request);
        try
        {
            var (input, names, decoder) = OnnxDetectorDescription.Describe(session, path);
            if (inputSize is { } size && (size != input.Width || size != input.Height))
                input = OnnxDetectorDescription.Resize(session, input, size, path);
            var engine = new OrtEngine(session, engineName, decoder.OutputNames);
            return new DetectorModel(path, input, names, decoder, engine, isMixtureOfExperts: false);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }
}
