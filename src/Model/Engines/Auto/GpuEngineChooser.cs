namespace MoeDetect.Model.Engines.Auto;

/// <summary>The GPU engine <c>--engine auto</c> runs (<see cref="GpuEngines.Ort"/> or <see cref="GpuEngines.Ilgpu"/>)
/// and why, in words for the user.</summary>
public sealed record EngineChoice(string Engine, string Reason);

/// <summary>How <c>--engine auto</c> decides: this machine's own measurement of the model file at this batch on this
/// GPU where <c>moedetect bench --device gpu</c> made one, else the project's H100 measurement
/// (<see cref="ProjectBenchRule"/>).</summary>
public static class GpuEngineChooser
{
    public static EngineChoice Choose(ModelFingerprint model, int batch, string gpu, IReadOnlyList<MeasuredEngineChoice> measured)
    {
        var own = measured.LastOrDefault(m => m.IsFor(gpu, model.Sha256, batch));
        return own is null
            ? ProjectBenchRule.Choose(model, batch)
            : new(own.Engine, $"faster for {model.FileName} at batch {batch} in this machine's bench, {own.Times}");
    }
}
