using MoeDetect.Model.Engines;
using MoeDetect.Model.Engines.Cuda;

namespace MoeDetect.Pipeline.Benchmarking;

/// <summary>One engine configuration the benchmark loads and times: a name and the request that loads it (the
/// batch is set per run). Another engine joins the benchmark by adding its variant here.</summary>
/// <param name="BaselineFor">Set on the raw ONNX Runtime row (<see cref="RawOrtTiming"/>): the product variant whose
/// end-to-end time it is the yardstick for.</param>
public sealed record BenchVariant(string Name, EngineRequest Request, string? BaselineFor = null)
{
    /// <summary>The variant that runs what <c>--engine ort</c> runs: IOBinding with CUDA graphs (on an ES-MoE model, the
    /// device-bound sparse engine, which takes the same settings).</summary>
    public static readonly string OrtProduct = new CudaSettings().EngineName;

    /// <summary>The variant that runs what <c>--engine ilgpu</c> runs.</summary>
    public const string IlgpuProduct = GpuEngines.Ilgpu;

    public bool IsRawBaseline => BaselineFor is not null;

    /// <param name="cuda">The user's CUDA settings (cuDNN search, memory limit); the variants set binding and CUDA graphs.</param>
    public static IReadOnlyList<BenchVariant> For(ComputeDevice device, string? engine, int threads, CudaSettings cuda)
    {
        if (device == ComputeDevice.Cpu)
        {
            var cpu = new EngineRequest(ComputeDevice.Cpu, GpuEngines.Ort, threads);
            return [new("ort-cpu", cpu), new("ort-cpu-raw", cpu, BaselineFor: "ort-cpu")];
        }
        var gpu = new EngineRequest(ComputeDevice.Gpu, GpuEngines.Ort, threads);
        CudaSettings Cuda(bool binding, bool graphs) => cuda with { DeviceBinding = binding, CudaGraphs = graphs };
        var best = Cuda(true, true);
        BenchVariant[] ort =
        [
            new(Cuda(false, false).EngineName, gpu with { Cuda = Cuda(false, false) }),
            new(Cuda(true, false).EngineName, gpu with { Cuda = Cuda(true, false) }),
            new(best.EngineName, gpu with { Cuda = best }),
            new("ort-cuda-raw", gpu with { Cuda = best }, BaselineFor: best.EngineName),
        ];
        var ilgpu = new BenchVariant(IlgpuProduct, gpu with { Engine = GpuEngines.Ilgpu });
        // With --engine auto (the default), every GPU engine is timed in the same process: ORT's three modes, ORT alone,
        // and the project's ILGPU engine; the two product paths then tell auto which engine to run on this machine.
        return engine switch
        {
            GpuEngines.Ort => ort,
            GpuEngines.Ilgpu => [ilgpu],
            _ => [.. ort, ilgpu],
        };
    }
}
