using System.IO.Compression;

namespace MoeDetect.Model.Moe;

/// <summary>A <c>.moedet</c> file opened and validated at the door: ZIP archive, manifest of the supported format
/// and version, every step complete, every graph it names present, every tensor produced before it is used.</summary>
public sealed class MoeModelFile
{
    private readonly Dictionary<string, byte[]> _entries;

    private MoeModelFile(string path, MoeManifest manifest, Dictionary<string, byte[]> entries)
    {
        Path = path;
        Manifest = manifest;
        _entries = entries;
    }

    public string Path { get; }
    public MoeManifest Manifest { get; }

    public byte[] Graph(string entry) => _entries[entry];

    public static MoeModelFile Open(string path)
    {
        Dictionary<string, byte[]> entries;
        try
        {
            using var zip = ZipFile.OpenRead(path);
            entries = zip.Entries.Where(e => e.Length > 0 || e.Name.Length > 0).ToDictionary(e => e.FullName, Read);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidModelException($"'{path}' is not a MoeDetect model file (not a ZIP archive: {e.Message})", e);
        }
        if (!entries.TryGetValue("manifest.json", out var manifestBytes))
            throw new InvalidModelException($"'{path}' has no manifest.json; it is not a MoeDetect model file");
        MoeManifest manifest;
        try
        {
            manifest = MoeManifest.Parse(System.Text.Encoding.UTF8.GetString(manifestBytes));
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException)
        {
            throw new InvalidModelException($"'{path}': manifest.json is not valid: {e.Message}", e);
        }
        var problems = Validate(manifest, entries.Keys.ToHashSet());
        if (problems.Count > 0)
            throw new InvalidModelException($"'{path}' is not a valid model: {string.Join("; ", problems)}");
        return new MoeModelFile(path, manifest, entries);
    }

    private static byte[] Read(ZipArchiveEntry entry)
    {
        using var stream = entry.Open();
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }

    private static List<string> Validate(MoeManifest m, HashSet<string> entries)
    {
        var problems = new List<string>();
        if (m.Format != MoeManifest.FormatName)
            return [$"format is '{m.Format}', expected '{MoeManifest.FormatName}'"];
        if (m.Version != MoeManifest.SupportedVersion)
            return [$"format version {m.Version} is not supported by this MoeDetect (reads version {MoeManifest.SupportedVersion}); use a matching MoeDetect release or re-export the model"];
        if (m.Classes is not { Length: > 0 }) problems.Add("classes: missing or empty");
        if (m.Input is null || m.Input["width"] is null || m.Input["height"] is null || m.Input["name"] is null)
            problems.Add("input: needs name, width and height");
        if (m.DecoderOutputs is not { Length: > 0 }) problems.Add("decoder_outputs: missing");
        if (m.Routing.Mode is not ("top-k" or "top-p")) problems.Add($"routing.mode: '{m.Routing.Mode}' is not top-k or top-p");
        if (m.Routing.K < 1) problems.Add("routing.k: must be at least 1");
        if (m.Routing.Temperature <= 0) problems.Add("routing.temperature: must be positive");
        if (m.Steps is not { Length: > 0 }) return [.. problems, "steps: missing or empty"];

        var available = new HashSet<string> { m.Input?["name"]?.GetValue<string>() ?? "" };
        void NeedGraph(string where, string? entry)
        {
            if (entry is null) problems.Add($"{where}: names no onnx graph");
            else if (!entries.Contains(entry)) problems.Add($"{where}: graph '{entry}' is not in the archive");
        }
        for (int i = 0; i < m.Steps.Length; i++)
        {
            var step = m.Steps[i];
            string where = $"steps[{i}] ({step.Name})";
            switch (step.Kind)
            {
                case "segment":
                    NeedGraph(where, step.Onnx);
                    foreach (var input in step.Inputs ?? [])
                        if (!available.Contains(input)) problems.Add($"{where}: input '{input}' is not produced by an earlier step");
                    if (step.Outputs is not { Length: > 0 }) problems.Add($"{where}: outputs missing");
                    available.UnionWith(step.Outputs ?? []);
                    break;
                case "moe":
                    if (step.Input is null || !available.Contains(step.Input)) problems.Add($"{where}: input '{step.Input}' is not produced by an earlier step");
                    if (step.Output is null) problems.Add($"{where}: output missing");
                    NeedGraph($"{where}.router", step.Router?.Onnx);
                    if (step.Experts is not { Length: >= 2 }) problems.Add($"{where}: needs at least 2 experts");
                    for (int e = 0; e < (step.Experts?.Length ?? 0); e++)
                        if (step.Experts![e].Onnx is { } onnx && !entries.Contains(onnx))
                            problems.Add($"{where}.experts[{e}]: graph '{onnx}' is not in the archive");
                    if (step.Output is not null) available.Add(step.Output);
                    break;
                default:
                    problems.Add($"{where}: unknown kind '{step.Kind}' (expected segment or moe)");
                    break;
            }
        }
        foreach (var output in m.DecoderOutputs ?? [])
            if (!available.Contains(output)) problems.Add($"decoder_outputs: '{output}' is not produced by any step");
        return problems;
    }
}
