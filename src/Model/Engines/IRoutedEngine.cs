namespace MoeDetect.Model.Engines;

/// <summary>An engine that routes frames to experts. Knowing which stream (camera or file) each frame of a batch
/// comes from lets it damp route flapping between consecutive frames of one stream.</summary>
public interface IRoutedEngine : IInferenceEngine
{
    EngineOutput Run(ReadOnlyMemory<float> input, int batchSize, IReadOnlyList<string>? streams);
}
