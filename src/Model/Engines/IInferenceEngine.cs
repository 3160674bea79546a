namespace MoeDetect.Model.Engines;

/// <summary>The result of running one batch: the decoder's tensors (batch-first), the per-frame routes of MoE
/// models (null for dense models) and where the time went.</summary>
public sealed record EngineOutput(IReadOnlyList<NamedTensor> Tensors, IReadOnlyList<FrameRoute>? Routes, EngineTimings Timings)
{
    public NamedTensor Tensor(string name) =>
        Tensors.FirstOrDefault(t => t.Name == name)
        ?? throw new InvalidOperationException($"engine output has no tensor '{name}' (has: {string.Join(", ", Tensors)})");
}

/// <summary>Runs a loaded model on preprocessed input batches. Implementations: ONNX Runtime (CPU or CUDA),
/// the project's ILGPU engine. Input is a batch of images laid out as the model's <see cref="Input.InputSpec"/> says.</summary>
public interface IInferenceEngine : IDisposable
{
    /// <summary>A short human-readable name, e.g. "onnxruntime-cpu".</summary>
    string Name { get; }

    /// <summary>Largest batch the engine accepts in one call.</summary>
    int MaxBatch { get; }

    EngineOutput Run(ReadOnlyMemory<float> input, int batchSize);
}
