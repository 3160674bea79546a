using MoeDetect.Model.Engines;
using MoeDetect.Model.Engines.Cuda;

namespace MoeDetect.Pipeline.Benchmarking;

/// <summary>One engine configuration the benchmark loads and times: a name and the request that loads it (the
/// batch is set per run). Another engine joins the benchmark by adding its variant here.</summary>
public sealed record BenchVariant(string Name, EngineRequest Request)
{
    public static IReadOnlyList<BenchVariant> For(ComputeDevice device, string? engine, int threads, ConvolutionSearch search)
    {
        if (device == ComputeDevice.Cpu)
            return [new("ort-cpu", new EngineRequest(ComputeDevice.Cpu, "ort", threads))];
        var gpu = new EngineRequest(ComputeDevice.Gpu, "ort", threads);
        CudaSettings Cuda(bool binding, bool graphs) => new(binding, graphs, search);
        BenchVariant[] ort =
        [
            new(Cuda(false, false).EngineName, gpu with { Cuda = Cuda(false, false) }),
            new(Cuda(true, false).EngineName, gpu with { Cuda = Cuda(true, false) }),
            new(Cuda(true, true).EngineName, gpu with { Cuda = Cuda(true, true) }),
        ];
        var ilgpu = new BenchVariant("ilgpu", gpu with { Engine = "ilgpu" });
        // Without --engine, every GPU engine is timed in the same process: ORT's three modes and the project's ILGPU engine.
        return engine switch
        {
            null => [.. ort, ilgpu],
            "ort" => ort,
            _ => [new(engine, gpu with { Engine = engine })],
        };
    }
}
