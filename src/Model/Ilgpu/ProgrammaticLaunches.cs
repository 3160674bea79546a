using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using ILGPU.Runtime;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Which loaded kernels begin with <see cref="GridDependencyControl"/>'s wait, per accelerator: only an edge
/// into such a kernel may become programmatic in a CUDA graph (<see cref="CudaGraph"/>), since a kernel without the wait
/// would then read its inputs before they are written. Kernels ILGPU compiles itself (those with specialised values)
/// are not listed and keep ordinary edges. Off unless <c>MOEDETECT_PROGRAMMATIC_LAUNCH=1</c>: it has not yet run with
/// programmatic edges on a GPU (the one H100 run found none, ILGPU's PTX targeting sm_80, which
/// <see cref="GridDependencyControl"/> now raises), and off every kernel loads without the wait, as before.</summary>
internal static class ProgrammaticLaunches
{
    public const string Switch = "MOEDETECT_PROGRAMMATIC_LAUNCH";

    private static readonly ConditionalWeakTable<Accelerator, ConcurrentDictionary<nint, bool>> Waiting = new();

    public static bool Enabled => Environment.GetEnvironmentVariable(Switch) == "1";

    public static void Register(Accelerator accelerator, nint function) => Waiting.GetOrCreateValue(accelerator)[function] = true;

    /// <summary>The CUDA functions of <paramref name="accelerator"/> that wait for the grids they depend on.</summary>
    public static IReadOnlySet<nint> WaitingFunctions(Accelerator accelerator) =>
        Waiting.TryGetValue(accelerator, out var functions) ? functions.Keys.ToHashSet() : [];
}
