using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using ILGPU.Runtime;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Which loaded kernels begin with <see cref="GridDependencyControl"/>'s wait, per accelerator: only an edge
/// into such a kernel may become programmatic in a CUDA graph (<see cref="CudaGraph"/>), since a kernel without the wait
/// would then read its inputs before they are written. Kernels ILGPU compiles itself (those with specialised values)
/// are not listed and keep ordinary edges. On by default: on the H100 it took 3 % off CenterNet's and YOLOv8n's plans at
/// batch 1 and about 1 % at batch 32, with outputs as without it (docs/results/2026-12-07-h100-pdl, call E);
/// <c>MOEDETECT_PROGRAMMATIC_LAUNCH=0</c> loads every kernel without the wait and keeps every edge ordinary.</summary>
internal static class ProgrammaticLaunches
{
    public const string Switch = "MOEDETECT_PROGRAMMATIC_LAUNCH";

    private static readonly ConditionalWeakTable<Accelerator, ConcurrentDictionary<nint, bool>> Waiting = new();

    public static bool Enabled => Environment.GetEnvironmentVariable(Switch) != "0";

    public static void Register(Accelerator accelerator, nint function) => Waiting.GetOrCreateValue(accelerator)[function] = true;

    /// <summary>The CUDA functions of <paramref name="accelerator"/> that wait for the grids they depend on.</summary>
    public static IReadOnlySet<nint> WaitingFunctions(Accelerator accelerator) =>
        Waiting.TryGetValue(accelerator, out var functions) ? functions.Keys.ToHashSet() : [];
}
