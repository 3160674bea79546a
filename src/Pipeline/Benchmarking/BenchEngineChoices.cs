using MoeDetect.Model.Engines.Auto;
using MoeDetect.Model.Engines.Cuda;
using MoeDetect.Model;

namespace MoeDetect.Pipeline.Benchmarking;

/// <summary>What a GPU bench tells <c>--engine auto</c> and <c>--cuda-layout auto</c>: at each batch where both engines'
/// product variants ran (<see cref="BenchVariant.OrtProduct"/> in each layout timed, and
/// <see cref="BenchVariant.IlgpuProduct"/>), the fastest ORT layout and both engines' end-to-end ms per frame, kept in
/// this machine's engine choice file (<see cref="EngineChoiceFile"/>).</summary>
public static class BenchEngineChoices
{
    public static IReadOnlyList<MeasuredEngineChoice> From(IReadOnlyList<BenchResult> results, string gpu, ModelFingerprint model) =>
        (from ort in results.Where(r => r.Error is null && BenchVariant.OrtProductLayout(r.Variant) is not null)
             .GroupBy(r => r.Batch).Select(batch => batch.MinBy(r => r.MsPerFrame)!)
         join ilgpu in results.Where(r => r.Error is null && r.Variant == BenchVariant.IlgpuProduct) on ort.Batch equals ilgpu.Batch
         select new MeasuredEngineChoice(gpu, model.FileName, model.Sha256, ort.Batch, ort.MsPerFrame, ilgpu.MsPerFrame,
             ConvolutionLayouts.Name(BenchVariant.OrtProductLayout(ort.Variant)!.Value)))
        .ToList();

    /// <summary>Adds <paramref name="measured"/> to the file at <paramref name="path"/>, keeping its entries of other
    /// GPUs, models and batches. The file appears whole or not at all (<see cref="AtomicFile"/>); one that cannot be
    /// read is replaced and one that cannot be written is left as it was, each with a warning: the bench itself ran.</summary>
    public static void Record(string path, IReadOnlyList<MeasuredEngineChoice> measured, Action<string> warn)
    {
        var merged = EngineChoiceFile.Merge(EngineChoiceFile.Read(path, warn), measured);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            AtomicFile.WriteAllText(path, EngineChoiceFile.ToJson(merged));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            warn($"warning: could not write the engine choice file {path} ({e.Message}); --engine auto will not know this bench's " +
                $"results (set {EngineChoiceFile.PathVariable} to a file that can be written)");
        }
    }
}
