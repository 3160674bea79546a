using System.Text.RegularExpressions;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Programmatic dependent launch in a kernel's PTX (sm_90 and later, PTX ISA 7.8): the kernel's first
/// instruction waits until the grids it depends on have finished and their writes are visible (<c>griddepcontrol.wait</c>).
/// A kernel launched with an ordinary dependency finds nothing to wait for, so the wait costs nothing there; in a CUDA
/// graph whose edges say so (<see cref="ProgrammaticLaunches"/>), the next kernel is launched as this one's groups end,
/// instead of after the grid has ended and its writes have been flushed. Because every thread waits before its first
/// memory access, a kernel never sees its inputs half written, and it ends only after all it depends on has ended, so
/// the guarantee carries down a chain. Dependents are released only as each group ends (no
/// <c>griddepcontrol.launch_dependents</c>): released at once, YOLOv8n's plan took 11 % longer on the H100
/// (docs/results/2026-12-07-h100-pdl, calls D and E), likely because their groups then hold multiprocessors while they
/// wait. ILGPU 1.5.3 writes <c>.target sm_80</c> even for an sm_90 device, so the target is raised to sm_90 where the
/// device has it: the same instructions, which the driver compiles for the device either way.</summary>
internal static partial class GridDependencyControl
{
    public const string Instructions = "\tgriddepcontrol.wait;\n";

    /// <summary>Whether PTX of this ISA version can take <c>griddepcontrol</c> on a device of compute capability
    /// <paramref name="deviceSm"/> (e.g. 90 for 9.0).</summary>
    public static bool Supports(string ptx, int deviceSm)
    {
        var version = Version().Match(ptx);
        if (!version.Success || !Target().IsMatch(ptx) || deviceSm < MinimumSm) return false;
        int major = int.Parse(version.Groups["major"].Value), minor = int.Parse(version.Groups["minor"].Value);
        return major > 7 || major == 7 && minor >= 8;
    }

    /// <summary>The PTX targeting at least sm_90, with <see cref="Instructions"/> before the first instruction of each
    /// entry's body (after its declarations, so that it runs before anything else, the bounds check of an implicitly
    /// grouped kernel included).</summary>
    public static string Insert(string ptx)
    {
        ptx = Target().Replace(ptx, m => int.Parse(m.Groups["sm"].Value) < MinimumSm ? $"{m.Groups["directive"].Value}sm_{MinimumSm}" : m.Value);
        return EntryBody().Replace(ptx, m => m.Groups["declarations"].Value + Instructions);
    }

    private const int MinimumSm = 90;

    // ".entry name(params) {" then the lines that are blank or directives (.reg, .local, .shared), up to the first
    // instruction or label.
    [GeneratedRegex(@"(?<declarations>\.entry\s+[^{]*\{\n(?:[ \t]*(?:\..*)?\n)*)")]
    private static partial Regex EntryBody();

    [GeneratedRegex(@"^\s*\.version\s+(?<major>\d+)\.(?<minor>\d+)", RegexOptions.Multiline)]
    private static partial Regex Version();

    [GeneratedRegex(@"^(?<directive>\s*\.target\s+)sm_(?<sm>\d+)", RegexOptions.Multiline)]
    private static partial Regex Target();
}
