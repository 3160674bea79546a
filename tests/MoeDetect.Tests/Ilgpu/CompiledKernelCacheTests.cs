using ILGPU;
using ILGPU.Backends.EntryPoints;
using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;
using System.Diagnostics;
using Xunit;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>The folder of compiled kernels kept between processes (<see cref="CompiledKernelCache"/>), with ILGPU's sm_90
/// backend (no GPU needed): a later cache reads what an earlier one compiled, as compiled; other kernels, type
/// arguments or grouping get other files; a damaged file is compiled again; an unwritable folder warns once; files
/// unused for 30 days go. That CUDA
/// loads a kept kernel is only checked on a GPU (a kernel the driver refuses is compiled afresh, KernelLoader).</summary>
public sealed class CompiledKernelCacheTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "moedetect-ptx-" + Guid.NewGuid().ToString("N"));
    private readonly SmPtxCompiler _compiler = new();
    private readonly List<string> _warnings = [];

    private static readonly EntryPointDescription Staged = EntryPointDescription.FromExplicitlyGroupedKernel(
        ((Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, WindowGeometry, ImageStrides, Activation>)StagedWeightsConvolutionKernel.Run<PtxIsa>).Method);

    private static readonly EntryPointDescription Unary = EntryPointDescription.FromImplicitlyGroupedKernel(
        ((Action<Index1D, ArrayView<float>, ArrayView<float>, Activation>)ElementwiseKernels.Unary).Method);

    private CompiledKernelCache Cache(string? folder = null) => new(folder ?? _folder, _warnings.Add);

    [Fact]
    public void A_kernel_compiled_once_is_read_back_by_a_later_cache_as_it_was_compiled()
    {
        long start = Stopwatch.GetTimestamp();
        var compiled = Cache().Compile(_compiler.Backend, Staged, out bool compiledFromFile);
        var compiling = Stopwatch.GetElapsedTime(start);
        start = Stopwatch.GetTimestamp();
        var read = Cache().Compile(_compiler.Backend, Staged, out bool readFromFile);
        log.WriteLine($"compiled in {compiling.TotalMilliseconds:F0} ms, read back in {Stopwatch.GetElapsedTime(start).TotalMilliseconds:F1} ms");

        Assert.False(compiledFromFile);
        Assert.True(readFromFile);
        Assert.Equal(compiled.PTXAssembly, read.PTXAssembly);
        var (planned, kept) = (KernelLoader.EntryPointOf(compiled), KernelLoader.EntryPointOf(read));
        Assert.Equal(4 * StagedWeightsConvolutionKernel.MaxTaps * StagedWeightsConvolutionKernel.OutBlock, planned.SharedMemory.StaticSize);
        Assert.Equal(planned.SharedMemory.StaticSize, kept.SharedMemory.StaticSize);
        Assert.Equal(planned.SharedMemory.HasDynamicMemory, kept.SharedMemory.HasDynamicMemory);
        Assert.Equal(planned.MethodInfo, kept.MethodInfo);
        Assert.Equal(planned.IndexType, kept.IndexType);
        Assert.Single(Directory.GetFiles(_folder));
        Assert.Empty(_warnings);
    }

    [Fact]
    public void Other_kernels_type_arguments_or_grouping_have_other_keys()
    {
        var emulated = EntryPointDescription.FromExplicitlyGroupedKernel(
            ((Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, WindowGeometry, ImageStrides, Activation>)StagedWeightsConvolutionKernel.Run<EmulatedIsa>).Method);
        var grouped = EntryPointDescription.FromExplicitlyGroupedKernel(Unary.MethodSource);
        var keys = new[] { Staged, emulated, Unary, grouped }.Select(e => CompiledKernelCache.Key(_compiler.Backend, e)).ToList();

        Assert.Equal(keys.Count, keys.Distinct().Count());
        Assert.Equal(keys[0], CompiledKernelCache.Key(_compiler.Backend, Staged));
    }

    [Fact]
    public void A_damaged_file_is_compiled_again_and_rewritten()
    {
        Cache().Compile(_compiler.Backend, Unary, out _);
        string file = Directory.GetFiles(_folder).Single();
        File.WriteAllText(file, "// moedetect compiled kernel\n.version 8.0");

        var again = Cache().Compile(_compiler.Backend, Unary, out bool damagedFromFile);
        Cache().Compile(_compiler.Backend, Unary, out bool rewrittenFromFile);

        Assert.False(damagedFromFile);
        Assert.Contains(".entry", again.PTXAssembly);
        string kept = File.ReadAllText(file);
        Assert.Equal(again.PTXAssembly, kept[(kept.IndexOf('\n') + 1)..]);
        Assert.True(rewrittenFromFile);
    }

    [Fact]
    public void An_unwritable_folder_warns_once_naming_it_and_the_kernels_still_compile()
    {
        Directory.CreateDirectory(_folder);
        string blocker = Path.Combine(_folder, "a-file");
        File.WriteAllText(blocker, "");
        var cache = Cache(Path.Combine(blocker, "ptx"));

        var unary = cache.Compile(_compiler.Backend, Unary, out bool unaryFromFile);
        var staged = cache.Compile(_compiler.Backend, Staged, out bool stagedFromFile);

        Assert.False(unaryFromFile || stagedFromFile);
        Assert.Contains(".entry", unary.PTXAssembly);
        Assert.Contains(".entry", staged.PTXAssembly);
        var warning = Assert.Single(_warnings);
        Assert.Contains(blocker, warning);
        Assert.Contains(CompiledKernelCache.FolderVariable, warning);
    }

    [Fact]
    public void Kernels_unused_for_thirty_days_are_removed_before_a_process_first_writes_and_those_just_read_are_kept()
    {
        var emulated = EntryPointDescription.FromExplicitlyGroupedKernel(
            ((Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, WindowGeometry, ImageStrides, Activation>)StagedWeightsConvolutionKernel.Run<EmulatedIsa>).Method);
        string File(EntryPointDescription entry) => Path.Combine(_folder, CompiledKernelCache.Key(_compiler.Backend, entry) + ".ptx");
        Cache().Compile(_compiler.Backend, Unary, out _);
        Cache().Compile(_compiler.Backend, Staged, out _);
        var old = DateTime.UtcNow - CompiledKernelCache.Unused - TimeSpan.FromDays(1);
        System.IO.File.SetLastWriteTimeUtc(File(Unary), old);
        System.IO.File.SetLastWriteTimeUtc(File(Staged), old);

        var process = Cache();
        process.Compile(_compiler.Backend, Unary, out bool read);
        process.Compile(_compiler.Backend, emulated, out bool written);

        Assert.True(read);
        Assert.False(written);
        Assert.Equal(new[] { File(Unary), File(emulated) }.Order(), Directory.GetFiles(_folder).Order());
    }

    public void Dispose()
    {
        _compiler.Dispose();
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }
}
