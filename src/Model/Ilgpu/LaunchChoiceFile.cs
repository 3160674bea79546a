using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using MoeDetect.Kernels.Tensors;

namespace MoeDetect.Model.Ilgpu;

/// <summary>The launch tuner's answers kept between processes (TensorRT's timing cache, for the engine's own kernels): a
/// later process on the same GPU with the same build plans without timing, or compiling, the candidates that lost, and
/// without the device check. On the H100 YOLOv8n's first run took 1.21 s to plan batch 32 from the file against 2.55 s
/// searching, and 5.97 s against 6.50 s at batch 1, where compiling the chosen kernels stays
/// (docs/results/2026-12-08-h100-row-segments). A question is keyed by a hash of everything its
/// candidates are made of, so a change of switches, of the device check's outcome or of the layer asks it anew. The
/// file names its GPU and build; another GPU or build starts it afresh. Engines of one process (a service's cameras)
/// share one instance per file, so that none overwrites the others' answers.</summary>
internal sealed class LaunchChoiceFile
{
    /// <summary>Names another file; 0 keeps no file (every process times its candidates).</summary>
    public const string PathVariable = "MOEDETECT_ILGPU_LAUNCH_CACHE";

    private static readonly JsonSerializerOptions FileOptions = new() { WriteIndented = true };

    /// <summary>Candidates and layers as JSON of every field, on one line: what keys hash and answers name.</summary>
    private static readonly JsonSerializerOptions DescriptionOptions = new() { IncludeFields = true };

    private sealed record Document(string? Identity, Dictionary<string, string>? Choices);

    private readonly string _path, _identity;
    private readonly Dictionary<string, string> _choices;
    private readonly Action<string> _warn;
    private bool _warnedUnwritable;

    private static readonly ConcurrentDictionary<(string Path, string Identity), LaunchChoiceFile> Shared = new();

    private LaunchChoiceFile(string path, string identity, Dictionary<string, string> choices, Action<string> warn) =>
        (_path, _identity, _choices, _warn) = (path, identity, choices, warn);

    /// <summary>The file of <paramref name="accelerator"/>'s answers, read where it exists for this GPU and build; none
    /// where <see cref="PathVariable"/> is 0.</summary>
    public static LaunchChoiceFile? ForDevice(Accelerator accelerator, Action<string> warn)
    {
        string? chosenPath = Environment.GetEnvironmentVariable(PathVariable);
        if (chosenPath == "0") return null;
        string path = chosenPath is { Length: > 0 } ? chosenPath : UserCacheFolder.PathOf("ilgpu-launches.json");
        string identity = Identity(accelerator);
        return Shared.GetOrAdd((path, identity), _ => Open(path, identity, warn));
    }

    /// <summary>The answers in <paramref name="path"/> where they were given under <paramref name="identity"/>; none where
    /// the file is missing or another GPU's or build's (warned where it cannot be read).</summary>
    public static LaunchChoiceFile Open(string path, string identity, Action<string> warn)
    {
        var choices = new Dictionary<string, string>();
        try
        {
            if (File.Exists(path) && JsonSerializer.Deserialize<Document>(File.ReadAllText(path), FileOptions) is { } document
                && document.Identity == identity && document.Choices is not null)
                choices = document.Choices;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            warn($"warning: ignoring the ILGPU launch choices in {path} ({e.Message}); this run times its kernels and writes the file anew");
        }
        return new LaunchChoiceFile(path, identity, choices, warn);
    }

    /// <summary>The GPU (name, memory, driver) and the build of the kernels and the engine: what a timing holds for.</summary>
    private static string Identity(Accelerator accelerator)
    {
        string driver = accelerator is CudaAccelerator cuda ? $", driver {cuda.DriverVersion}" : "";
        return $"{accelerator.Name}, {accelerator.MemorySize} bytes{driver}; build {Build(typeof(PointwiseGeometry))} {Build(typeof(LaunchChoiceFile))}";
    }

    private static Guid Build(Type type) => type.Assembly.ManifestModule.ModuleVersionId;

    /// <summary>The candidate chosen before for the question made of <paramref name="what"/>, <paramref name="question"/>
    /// and these candidates; else <paramref name="choose"/>'s answer, kept.</summary>
    public T Choose<T>(string what, object question, IReadOnlyList<T> candidates, Func<IReadOnlyList<T>, T> choose)
    {
        var (descriptions, key) = Ask(what, question, candidates);
        if (Known(key) is { } known && descriptions.IndexOf(known) is >= 0 and var index) return candidates[index];
        var chosen = choose(candidates);
        Keep(key, Describe(chosen!));
        return chosen;
    }

    /// <summary>The subset of <paramref name="candidates"/> chosen before (the device check's passes); else
    /// <paramref name="choose"/>'s answer, kept.</summary>
    public T[] ChooseSubset<T>(string what, IReadOnlyList<T> candidates, Func<IReadOnlyList<T>, T[]> choose)
    {
        var (descriptions, key) = Ask(what, "", candidates);
        if (Known(key) is { } known && JsonSerializer.Deserialize<string[]>(known) is { } kept)
            return candidates.Where((_, i) => kept.Contains(descriptions[i])).ToArray();
        var chosen = choose(candidates);
        Keep(key, JsonSerializer.Serialize(chosen.Select(c => Describe(c!)).ToArray()));
        return chosen;
    }

    private string? Known(string key)
    {
        lock (_choices) return _choices.GetValueOrDefault(key);
    }

    private static string Describe(object value) => JsonSerializer.Serialize(value, value.GetType(), DescriptionOptions);

    /// <summary>The candidates' descriptions, and the question's key: a hash of its words, its layer and its candidates,
    /// each as JSON of every field.</summary>
    private static (List<string> Descriptions, string Key) Ask<T>(string what, object question, IReadOnlyList<T> candidates)
    {
        var descriptions = candidates.Select(c => Describe(c!)).ToList();
        var text = string.Join('\n', descriptions.Prepend(Describe(question)).Prepend(what));
        return (descriptions, Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..32]);
    }

    /// <summary>Adds an answer and rewrites the file whole (through a file beside it, so that a reader never sees half
    /// of one); a file that cannot be written costs only the next process's timing.</summary>
    private void Keep(string key, string choice)
    {
        lock (_choices)
        {
            _choices[key] = choice;
            try
            {
                AtomicFile.WriteAllTextShared(_path, JsonSerializer.Serialize(new Document(_identity, _choices), FileOptions));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                if (!_warnedUnwritable)
                    _warn($"warning: cannot keep the ILGPU launch choices in {_path} ({e.Message}); set {PathVariable} to a writable file, or 0");
                _warnedUnwritable = true;
            }
        }
    }
}
