namespace MoeDetect.Model.Engines;

/// <summary>An engine that takes letterboxed 8-bit BGR canvases (the model's W×H×3 bytes each) and normalises them
/// itself, on its own device. Callers write the canvases of a batch into <see cref="PixelStaging"/> (host memory
/// the device copies from directly) and then call <see cref="RunPixels"/>.</summary>
public interface IPixelInputEngine : IInferenceEngine
{
    /// <summary>Room for <see cref="IInferenceEngine.MaxBatch"/> canvases, one after the other.</summary>
    Span<byte> PixelStaging { get; }

    EngineOutput RunPixels(int batchSize);
}
