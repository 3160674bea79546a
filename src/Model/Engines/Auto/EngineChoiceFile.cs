using System.Text.Json;

namespace MoeDetect.Model.Engines.Auto;

/// <summary>This machine's engine choices: a small JSON file in the user's cache folder, written by <c>moedetect bench
/// --device gpu</c> and read by <c>--engine auto</c>. A missing file is no choice; a corrupt one is a warning, never an
/// error, since auto still has the project's own measurement to go by.</summary>
public static class EngineChoiceFile
{
    /// <summary>Names another file (tests; several machines' choices kept apart).</summary>
    public const string PathVariable = "MOEDETECT_ENGINE_CHOICE";

    private static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    private sealed record Document(IReadOnlyList<MeasuredEngineChoice>? Choices);

    public static string DefaultPath() =>
        DefaultPath(Environment.GetEnvironmentVariable, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));

    /// <summary>$MOEDETECT_ENGINE_CHOICE, else <c>engine-choice.json</c> in the <see cref="UserCacheFolder"/>.</summary>
    public static string DefaultPath(Func<string, string?> variable, string home) =>
        variable(PathVariable) is { Length: > 0 } path ? path : UserCacheFolder.PathOf("engine-choice.json", variable, home);

    /// <summary>The file's entries; none where it does not exist, or with a warning where it cannot be read.</summary>
    public static IReadOnlyList<MeasuredEngineChoice> Read(string path, Action<string>? warn)
    {
        if (!File.Exists(path)) return [];
        try
        {
            return Parse(File.ReadAllText(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or InvalidDataException)
        {
            warn?.Invoke($"warning: ignoring the engine choice file {path} ({e.Message}); " +
                "moedetect bench --device gpu writes it anew");
            return [];
        }
    }

    /// <summary>Throws <see cref="JsonException"/> or <see cref="InvalidDataException"/> for a file that is not one.</summary>
    public static IReadOnlyList<MeasuredEngineChoice> Parse(string json)
    {
        var choices = JsonSerializer.Deserialize<Document>(json, Options)?.Choices
            ?? throw new InvalidDataException("no \"choices\" list");
        for (int i = 0; i < choices.Count; i++)
            if (Problem(choices[i]) is { } problem) throw new InvalidDataException($"choices[{i}]: {problem}");
        return choices;
    }

    private static string? Problem(MeasuredEngineChoice? c) => c switch
    {
        null => "empty",
        { Gpu: null or "" } => "no gpu",
        { Model: null or "" } => "no model",
        { ModelSha256: null } or { ModelSha256.Length: not 64 } => "model_sha256 is not a SHA-256",
        { Batch: < 1 } => "batch below 1",
        { OrtLayout: { } layout } when Cuda.ConvolutionLayouts.Parse(layout) is null or Cuda.ConvolutionLayout.Auto
            => $"ort_layout '{layout}' is not nchw, nhwc or nhwc-fused-bias",
        _ when !(double.IsFinite(c.OrtMsPerFrame) && double.IsFinite(c.IlgpuMsPerFrame) && c.OrtMsPerFrame > 0 && c.IlgpuMsPerFrame > 0)
            => "times must be positive milliseconds",
        _ => null,
    };

    public static string ToJson(IEnumerable<MeasuredEngineChoice> choices) => JsonSerializer.Serialize(new Document(choices.ToList()), Options);

    /// <summary>The file's entries with <paramref name="measured"/> in place of those of the same GPU, model and batch.</summary>
    public static IReadOnlyList<MeasuredEngineChoice> Merge(IEnumerable<MeasuredEngineChoice> existing, IReadOnlyList<MeasuredEngineChoice> measured) =>
        [.. existing.Where(e => !measured.Any(m => m.IsFor(e.Gpu, e.ModelSha256, e.Batch))), .. measured];
}
