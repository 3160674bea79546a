using MoeDetect.Model.Decoding;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Input;

namespace MoeDetect.Model.Loading;

/// <summary>A loaded detector: what it wants as input, what it calls its classes, how to decode its outputs, and
/// the engine that runs it.</summary>
public sealed class DetectorModel(string path, InputSpec input, IReadOnlyList<string> classNames,
    IDetectionDecoder decoder, IInferenceEngine engine, bool isMixtureOfExperts) : IDisposable
{
    public string Path { get; } = path;
    public InputSpec Input { get; } = input;
    public IReadOnlyList<string> ClassNames { get; } = classNames;
    public IDetectionDecoder Decoder { get; } = decoder;
    public IInferenceEngine Engine { get; } = engine;
    public bool IsMixtureOfExperts { get; } = isMixtureOfExperts;

    public void Dispose() => Engine.Dispose();
}
