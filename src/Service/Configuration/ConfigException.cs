using MoeDetect.Model;

namespace MoeDetect.Service.Configuration;

/// <summary>One thing wrong in the service configuration, at its path in the file (e.g.
/// <c>cameras[1].zones[0].points</c>) and, where known, its line.</summary>
public sealed record ConfigProblem(string Path, string Message, int? Line = null)
{
    public override string ToString() => Line is { } line ? $"{Path}: {Message} (line {line})" : $"{Path}: {Message}";
}

/// <summary>The configuration cannot be used; lists every problem found, not just the first.</summary>
public sealed class ConfigException(string origin, IReadOnlyList<ConfigProblem> problems)
    : MoeDetectException($"{origin} has {problems.Count} problem{(problems.Count == 1 ? "" : "s")}:" +
                         string.Concat(problems.Select(p => "\n  " + p)))
{
    public IReadOnlyList<ConfigProblem> Problems { get; } = problems;
}
