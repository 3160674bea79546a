using System.Diagnostics;
using System.Text.Json;
using MoeDetect.Model.Engines.Cuda;
using MoeDetect.Tests.Support;
using Xunit;

namespace MoeDetect.Tests.GpuEngine;

/// <summary>The CUDA provider (~280 MB) reaches GPU builds only: the default CLI build ships the CPU runtime and no
/// CUDA provider; -p:MoeDetectGpu=true swaps in the provider project.</summary>
public sealed class PackagingTests
{
    [Fact]
    public void Default_cli_build_output_has_the_cpu_runtime_and_no_cuda_provider()
    {
        // The CLI is built (as a reference of this test project) in its own bin folder, same configuration as the tests.
        string configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;
        string cliOutput = Path.Combine(TestPaths.RepositoryRoot, "src", "Cli", "bin", configuration, "net10.0");
        Assert.True(File.Exists(Path.Combine(cliOutput, "moedetect.dll")), $"no CLI build output in {cliOutput}");

        // The build's own files and its runtimes/ tree; a RID folder beside them (net10.0/linux-x64) is a separate
        // publish (e.g. the GPU build of docs/gpu-bench.md), not this build's output.
        string runtimes = Path.Combine(cliOutput, "runtimes");
        var natives = Directory.GetFiles(cliOutput, "libonnxruntime*")
            .Concat(Directory.Exists(runtimes) ? Directory.GetFiles(runtimes, "libonnxruntime*", SearchOption.AllDirectories) : [])
            .Select(Path.GetFileName).ToHashSet();
        Assert.Contains("libonnxruntime.so", natives);
        Assert.DoesNotContain(CudaLibraries.ProviderFile, natives);
        Assert.False(CudaLibraries.ProviderShipped(cliOutput));
    }

    [Fact]
    public void Cli_references_the_cpu_runtime_by_default_and_the_cuda_provider_project_with_MoeDetectGpu()
    {
        var cpu = Items("src/Cli/MoeDetect.Cli.csproj");
        Assert.Contains("Microsoft.ML.OnnxRuntime", cpu.Packages);
        Assert.DoesNotContain(cpu.Projects, p => p.Contains("Providers.Cuda"));

        var gpu = Items("src/Cli/MoeDetect.Cli.csproj", "-p:MoeDetectGpu=true");
        Assert.DoesNotContain("Microsoft.ML.OnnxRuntime", gpu.Packages);
        Assert.Contains(gpu.Projects, p => p.EndsWith("MoeDetect.Providers.Cuda.csproj"));

        var provider = Items("src/Providers/Cuda/MoeDetect.Providers.Cuda.csproj");
        Assert.Equal(["Microsoft.ML.OnnxRuntime.Gpu.Linux"], provider.Packages);
    }

    [Fact]
    public void Model_library_references_only_the_managed_runtime()
    {
        var model = Items("src/Model/MoeDetect.Model.csproj");
        Assert.Contains("Microsoft.ML.OnnxRuntime.Managed", model.Packages);
        Assert.DoesNotContain(model.Packages, p => p is "Microsoft.ML.OnnxRuntime" || p.StartsWith("Microsoft.ML.OnnxRuntime.Gpu"));
    }

    /// <summary>The package and project references MSBuild evaluates for a project (evaluation only: no restore or build).</summary>
    private static (List<string> Packages, List<string> Projects) Items(string project, params string[] properties)
    {
        var start = new ProcessStartInfo("dotnet", ["msbuild", project, "-getItem:PackageReference", "-getItem:ProjectReference", .. properties])
        {
            WorkingDirectory = TestPaths.RepositoryRoot,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"dotnet msbuild {project} failed: {output} {process.StandardError.ReadToEnd()}");
        var items = JsonDocument.Parse(output).RootElement.GetProperty("Items");
        List<string> Identities(string kind) => items.TryGetProperty(kind, out var list)
            ? list.EnumerateArray().Select(i => i.GetProperty("Identity").GetString()!).ToList() : [];
        return (Identities("PackageReference"), Identities("ProjectReference"));
    }
}
