using System.Reflection;
using System.Text.RegularExpressions;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Loads the library's kernels through the accelerator's own backend (the engine's context and optimisation
/// level), so that their PTX can be changed before CUDA loads it: where <see cref="ProgrammaticLaunches"/> is on and the
/// device and ISA have it (sm_90, PTX 7.8), each kernel first waits for the grids it depends on
/// (<see cref="GridDependencyControl"/>), which lets a CUDA graph start it while they finish; the tensor-core GEMM also
/// gets its operand slots promoted to registers (<see cref="PtxScalarLocals"/>). Other accelerators (the CPU one of the
/// tests) load through ILGPU's own loaders. Where given a <see cref="CompiledKernelCache"/>, a kernel a former process
/// compiled is read from it instead of compiled. ILGPU 1.5 keeps the compiled kernel's constructor and entry point
/// internal, so they are reached by reflection. Kernels with <c>SpecializedValue</c> parameters are compiled per value inside
/// ILGPU's own launcher and cannot come through here.</summary>
internal sealed partial class KernelLoader(Accelerator accelerator, CompiledKernelCache? cache = null)
{
    /// <summary>An implicitly grouped kernel; TDelegate: Action&lt;AcceleratorStream, Index1D, …&gt;.</summary>
    public TDelegate AutoGrouped<TDelegate>(Delegate kernel) where TDelegate : Delegate =>
        (accelerator is CudaAccelerator cuda
            ? LoadRewritten(cuda, EntryPointDescription.FromImplicitlyGroupedKernel(kernel.Method), cuda.LoadAutoGroupedKernel, promoteLocals: false)
            : accelerator.LoadAutoGroupedKernel(kernel.Method)).CreateLauncherDelegate<TDelegate>();

    /// <summary>An explicitly grouped kernel; TDelegate: Action&lt;AcceleratorStream, KernelConfig, …&gt;.</summary>
    public TDelegate Grouped<TDelegate>(Delegate kernel, bool promoteLocals = false) where TDelegate : Delegate =>
        (accelerator is CudaAccelerator cuda
            ? LoadRewritten(cuda, EntryPointDescription.FromExplicitlyGroupedKernel(kernel.Method), cuda.LoadKernel, promoteLocals)
            : accelerator.LoadKernel(kernel.Method)).CreateLauncherDelegate<TDelegate>();

    private static int _compiled, _read;

    /// <summary>Kernels this process has compiled, and read from a <see cref="CompiledKernelCache"/>, through loaders on
    /// CUDA: what a plan's first run spent its time on (<c>ilgpu-bench</c> reports them beside it).</summary>
    public static (int Compiled, int Read) Counts => (Volatile.Read(ref _compiled), Volatile.Read(ref _read));

    /// <summary>The kernel compiled, or read from the <see cref="CompiledKernelCache"/> where it holds it, then rewritten
    /// and loaded; a kept kernel the driver refuses is forgotten and compiled afresh.</summary>
    private Kernel LoadRewritten(CudaAccelerator cuda, EntryPointDescription entry, Func<CompiledKernel, Kernel> load, bool promoteLocals)
    {
        if (cache is not null)
        {
            var compiled = cache.Compile(cuda.Backend, entry, out bool fromFile);
            Interlocked.Increment(ref fromFile ? ref _read : ref _compiled);
            if (!fromFile) return LoadRewritten(cuda, compiled, load, promoteLocals);
            try
            {
                return LoadRewritten(cuda, compiled, load, promoteLocals);
            }
            catch (CudaException)
            {
                cache.Forget(cuda.Backend, entry);
            }
        }
        Interlocked.Increment(ref _compiled);
        return LoadRewritten(cuda, (PTXCompiledKernel)cuda.Backend.Compile(entry, KernelSpecialization.Empty), load, promoteLocals);
    }

    private static Kernel LoadRewritten(CudaAccelerator cuda, PTXCompiledKernel compiled, Func<CompiledKernel, Kernel> load, bool promoteLocals)
    {
        string assembly = promoteLocals ? PromotedTensorCorePtx(compiled.PTXAssembly) : compiled.PTXAssembly;
        if (ProgrammaticLaunches.Enabled && GridDependencyControl.Supports(assembly, 10 * cuda.Architecture.Major + cuda.Architecture.Minor))
        {
            try
            {
                var waiting = load(WithAssembly(cuda, compiled, GridDependencyControl.Insert(assembly)));
                ProgrammaticLaunches.Register(cuda, ((CudaKernel)waiting).FunctionPtr);
                return waiting;
            }
            // A driver whose PTX compiler refuses the instructions: the kernel as it was, with ordinary edges into it.
            catch (CudaException) { }
        }
        return load(ReferenceEquals(assembly, compiled.PTXAssembly) ? compiled : WithAssembly(cuda, compiled, assembly));
    }

    private const BindingFlags Hidden = BindingFlags.NonPublic | BindingFlags.Instance;

    private static PTXCompiledKernel WithAssembly(CudaAccelerator cuda, PTXCompiledKernel compiled, string assembly) =>
        PtxKernel(cuda.Context, EntryPointOf(compiled), compiled.Info, assembly);

    /// <summary>A compiled kernel's entry point (internal in ILGPU 1.5).</summary>
    public static EntryPoint EntryPointOf(CompiledKernel compiled) =>
        typeof(CompiledKernel).GetProperty("EntryPoint", Hidden)?.GetValue(compiled) as EntryPoint
        ?? throw new NotSupportedException($"this ILGPU version does not expose what {nameof(KernelLoader)} needs (CompiledKernel.EntryPoint)");

    /// <summary>A PTX kernel made of its parts (ILGPU 1.5's constructor is internal).</summary>
    public static PTXCompiledKernel PtxKernel(Context context, EntryPoint entryPoint, CompiledKernel.KernelInfo? info, string assembly)
    {
        var constructor = typeof(PTXCompiledKernel).GetConstructors(Hidden).SingleOrDefault(c => c.GetParameters().Length == 4)
            ?? throw new NotSupportedException($"this ILGPU version does not expose what {nameof(KernelLoader)} needs (PTXCompiledKernel's constructor)");
        return (PTXCompiledKernel)constructor.Invoke([context, entryPoint, info, assembly]);
    }

    /// <summary>The PTX of the tensor-core GEMM as loaded: locals promoted (<see cref="PtxScalarLocals"/>), and shared
    /// arrays, which ILGPU declares 4-byte aligned, 16-byte aligned, as the 16-byte <c>cp.async</c> copies of
    /// <see cref="MoeDetect.Kernels.Tensors.TensorCoreConvolutionKernel"/> need.</summary>
    public static string PromotedTensorCorePtx(string ptx) => AlignShared(PtxScalarLocals.Promote(ptx));

    private static string AlignShared(string ptx) => SharedDeclaration().Replace(ptx, ".shared .align 16 .b8 __shared_alloca");

    [GeneratedRegex(@"\.shared \.align 4 \.b8 __shared_alloca")]
    private static partial Regex SharedDeclaration();
}
