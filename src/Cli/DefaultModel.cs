namespace MoeDetect.Cli;

/// <summary>Finds the bundled models: the <c>models/</c> folder of the installation (MOEDETECT_HOME, set by the
/// launcher) or, failing that, the nearest one above the program. The project's own ES-MoE model is the default
/// once present; the converted CenterNet teacher otherwise.</summary>
public static class DefaultModel
{
    public static readonly string[] Candidates = ["esmoe-centernet.moedet", "centernet-mnv3.onnx"];

    public static string? ModelsFolder()
    {
        var home = Environment.GetEnvironmentVariable("MOEDETECT_HOME");
        if (home is not null && Directory.Exists(Path.Combine(home, "models"))) return Path.Combine(home, "models");
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var models = Path.Combine(dir.FullName, "models");
            if (Directory.Exists(models)) return models;
        }
        return null;
    }

    public static string Resolve()
    {
        var folder = ModelsFolder()
            ?? throw new Model.MoeDetectException("no models/ folder found: pass --model <file>, or set MOEDETECT_HOME to the MoeDetect folder");
        return Candidates.Select(c => Path.Combine(folder, c)).FirstOrDefault(File.Exists)
            ?? throw new Model.MoeDetectException($"no default model in {folder} (looked for {string.Join(", ", Candidates)}): pass --model <file>");
    }
}
