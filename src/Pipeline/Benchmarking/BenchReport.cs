using System.Text.Json;
using System.Text.Json.Serialization;
using MoeDetect.Model.Engines.Auto;
using MoeDetect.Model.Engines.Cuda;
using MoeDetect.Model;

namespace MoeDetect.Pipeline.Benchmarking;

/// <summary>A benchmark run as written to <c>--json</c>: where it ran, on what, and one entry per variant × batch
/// with the per-frame stage milliseconds keyed by the stage names every entry point uses, the product ORT path's
/// overhead over ONNX Runtime alone where both were timed, and on a GPU what <c>--engine auto</c> will pick
/// (<see cref="BenchEngineChoices"/>).</summary>
public sealed record BenchReport(
    [property: JsonPropertyName("device")] string Device,
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("frames")] string Frames,
    [property: JsonPropertyName("results")] IReadOnlyList<BenchResult> Results,
    [property: JsonPropertyName("engine_choice")] IReadOnlyList<MeasuredEngineChoice>? EngineChoice = null)
{
    [JsonPropertyName("overhead")]
    public IReadOnlyList<BenchOverhead> Overhead { get; } = BenchOverhead.From(Results);

    /// <summary>Where the product path and ORT alone ran in several convolution layouts: per batch, the fastest product
    /// path over ORT alone at its fastest, i.e. against ONNX Runtime's own best mode.</summary>
    [JsonPropertyName("best_overhead")]
    public IReadOnlyList<BenchOverhead> BestOverhead { get; } = BenchOverhead.Best(Results);

    private static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Options);

    public void Save(string path) => AtomicFile.WriteAllText(path, ToJson());
}

/// <summary>The product's ORT path against ONNX Runtime alone at one batch: its end-to-end milliseconds per frame
/// (1000 / FPS: preprocess from the canvas to decoded boxes) over the raw run's milliseconds per frame.</summary>
public sealed record BenchOverhead(string Product, string Raw, int Batch, double ProductMsPerFrame, double RawMsPerFrame)
{
    public double Ratio => ProductMsPerFrame / RawMsPerFrame;

    /// <summary>One entry per raw baseline row and product row of the same batch, the product being the one the raw row
    /// is the baseline for or that product with its runs synced; both must have succeeded.</summary>
    public static IReadOnlyList<BenchOverhead> From(IReadOnlyList<BenchResult> results) =>
        (from raw in results.Where(r => r.Error is null && r.BaselineFor is not null)
         from product in results.Where(r => r.Error is null && r.Batch == raw.Batch)
         where product.Variant == raw.BaselineFor || product.Variant + CudaSettings.QueuedSuffix == raw.BaselineFor
         select new BenchOverhead(product.Variant, raw.Variant, raw.Batch, product.MsPerFrame, raw.StageMs[Timing.Stages.Inference]))
        .ToList();

    /// <summary>Per batch with more than one pair of <see cref="From"/>: the fastest product row over the fastest raw row.</summary>
    public static IReadOnlyList<BenchOverhead> Best(IReadOnlyList<BenchResult> results) =>
        (from pairs in From(results).GroupBy(o => o.Batch).Where(g => g.Count() > 1)
         let product = pairs.MinBy(o => o.ProductMsPerFrame)!
         let raw = pairs.MinBy(o => o.RawMsPerFrame)!
         select new BenchOverhead(product.Product, raw.Raw, pairs.Key, product.ProductMsPerFrame, raw.RawMsPerFrame))
        .ToList();
}
