namespace MoeDetect.Model.Engines;

/// <summary>A pixel-input engine that routes frames to experts: like <see cref="IRoutedEngine"/>, knowing each
/// frame's stream lets it damp route flapping between consecutive frames of one stream.</summary>
public interface IRoutedPixelEngine : IPixelInputEngine
{
    EngineOutput RunPixels(int batchSize, IReadOnlyList<string>? streams);
}
