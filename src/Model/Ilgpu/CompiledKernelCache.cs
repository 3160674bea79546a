using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;

namespace MoeDetect.Model.Ilgpu;

/// <summary>The PTX ILGPU writes for the library's kernels, kept between processes (a file a kernel), so that a later
/// process of the same build loads a kernel without compiling it: ILGPU keeps no cache of its own, and compiling the
/// chosen kernels was most of a plan's first run once the launch choice file spared the search (YOLOv8n at batch 1:
/// 5.97 s on the H100, docs/results/2026-12-08-h100-row-segments). A file's name hashes everything its PTX depends on:
/// the kernel (its module's id, token and generic arguments with theirs), its index type (how it is grouped), the PTX
/// target (architecture, ISA), ILGPU's build, the context's properties and the .NET runtime. It holds that key, the
/// kernel's shared memory as ILGPU planned it, then the PTX as ILGPU wrote it; the engine's rewrites
/// (<see cref="KernelLoader"/>) run on it as on a fresh compile. A file that cannot be read or does not match is
/// compiled again and rewritten; an unwritable folder is warned about once; files unused for <see cref="Unused"/> are
/// removed (other builds' kernels). Kernels compiled inside ILGPU's own launcher (those with specialised values) do not
/// pass through here.</summary>
internal sealed class CompiledKernelCache(string folder, Action<string> warn)
{
    /// <summary>Names another folder; 0 keeps none (every process compiles its kernels).</summary>
    public const string FolderVariable = "MOEDETECT_ILGPU_PTX_CACHE";

    private const string Header = "// moedetect compiled kernel";
    private bool _warnedUnwritable, _pruned;

    /// <summary>The folder <see cref="FolderVariable"/> names, else <c>ilgpu-ptx</c> in the user cache folder; null where it is 0.</summary>
    public static CompiledKernelCache? FromEnvironment(Action<string> warn)
    {
        string? chosen = Environment.GetEnvironmentVariable(FolderVariable);
        if (chosen == "0") return null;
        return new CompiledKernelCache(chosen is { Length: > 0 } ? chosen : UserCacheFolder.PathOf("ilgpu-ptx"), warn);
    }

    /// <summary>The kernel of <paramref name="entry"/> as <paramref name="backend"/> compiles it (no specialisation): from
    /// its file where one of its key is there (<paramref name="fromFile"/>), else compiled and written.</summary>
    public PTXCompiledKernel Compile(PTXBackend backend, EntryPointDescription entry, out bool fromFile)
    {
        string path = PathOf(backend, entry);
        if (Read(backend.Context, entry, path) is { } cached)
        {
            fromFile = true;
            Touch(path);
            return cached;
        }
        fromFile = false;
        var compiled = (PTXCompiledKernel)backend.Compile(entry, KernelSpecialization.Empty);
        if (!_pruned)
        {
            _pruned = true;
            Prune(DateTime.UtcNow - Unused);
        }
        Write(path, compiled);
        return compiled;
    }

    /// <summary>Files neither written nor read for this long are removed, once a process, before its first write: every
    /// build (and ILGPU or driver update) keys its kernels anew, so the folder would otherwise keep each build's.</summary>
    public static readonly TimeSpan Unused = TimeSpan.FromDays(30);

    /// <summary>Removes the kept kernels last written or read before <paramref name="before"/>.</summary>
    private void Prune(DateTime before)
    {
        try
        {
            if (!Directory.Exists(folder)) return;
            foreach (var file in new DirectoryInfo(folder).EnumerateFiles("*.ptx").Where(f => f.LastWriteTimeUtc < before))
                file.Delete();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>Marks a kept kernel as read now (its write time: access times are often not kept), so that
    /// <see cref="Prune"/> keeps it.</summary>
    private static void Touch(string path)
    {
        try
        {
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>Removes the kernel's file (one the driver refused), so that the next process compiles it.</summary>
    public void Forget(PTXBackend backend, EntryPointDescription entry)
    {
        try
        {
            File.Delete(PathOf(backend, entry));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    private string PathOf(PTXBackend backend, EntryPointDescription entry) => Path.Combine(folder, Key(backend, entry) + ".ptx");

    /// <summary>A hash of everything the kernel's PTX depends on.</summary>
    public static string Key(PTXBackend backend, EntryPointDescription entry)
    {
        var ilgpu = typeof(Context).Assembly;
        var properties = backend.Context.Properties;
        string described = string.Join('\n',
            $"ILGPU {ilgpu.GetName().Version} {ilgpu.ManifestModule.ModuleVersionId}",
            RuntimeInformation.FrameworkDescription,
            $"target {backend.Architecture} {backend.InstructionSet}",
            "context " + string.Join(',', properties.GetType().GetProperties().Select(p => $"{p.Name}={p.GetValue(properties)}")),
            $"kernel {entry.IndexType} {Describe(entry.MethodSource)}");
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(described)));
    }

    private static string Describe(MethodInfo method) =>
        $"{method.Module.ModuleVersionId}:{method.MetadataToken:x8}<{string.Join(',', method.GetGenericArguments().Select(Describe))}>";

    private static string Describe(Type type) =>
        $"{type.Module.ModuleVersionId}:{type.MetadataToken:x8}<{string.Join(',', type.GetGenericArguments().Select(Describe))}>";

    /// <summary>The kernel in <paramref name="path"/>, or null where there is none or it does not start with its header.</summary>
    private static PTXCompiledKernel? Read(Context context, EntryPointDescription entry, string path)
    {
        string text;
        try
        {
            if (!File.Exists(path)) return null;
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        int lineEnd = text.IndexOf('\n');
        if (lineEnd < 0) return null;
        var fields = text[..lineEnd].Split(' ');
        // "// moedetect compiled kernel <key> shared <static bytes> <dynamic 0|1>"
        if (!text.StartsWith(Header + " ", StringComparison.Ordinal) || fields.Length != 8 || fields[5] != "shared"
            || fields[4] != Path.GetFileNameWithoutExtension(path) || !int.TryParse(fields[6], out int staticBytes) || fields[7] is not ("0" or "1"))
            return null;
        var sharedMemory = new SharedMemorySpecification(staticBytes, fields[7] == "1");
        var entryPoint = new EntryPoint(entry, sharedMemory, KernelSpecialization.Empty);
        // ILGPU's record of the kernel's allocations and functions is for reports, not for loading.
        return KernelLoader.PtxKernel(context, entryPoint, info: null, text[(lineEnd + 1)..]);
    }

    private void Write(string path, PTXCompiledKernel compiled)
    {
        var sharedMemory = KernelLoader.EntryPointOf(compiled).SharedMemory;
        string header = $"{Header} {Path.GetFileNameWithoutExtension(path)} shared {sharedMemory.StaticSize} {(sharedMemory.HasDynamicMemory ? 1 : 0)}";
        try
        {
            // Engines of one process (a service's cameras) may write the same kernel at once, each the same text.
            AtomicFile.WriteAllTextShared(path, header + "\n" + compiled.PTXAssembly);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (_warnedUnwritable) return;
            _warnedUnwritable = true;
            warn($"warning: cannot keep compiled GPU kernels in {folder} ({e.Message}); each run compiles them again (set {FolderVariable} to a writable folder, or 0)");
        }
    }
}
