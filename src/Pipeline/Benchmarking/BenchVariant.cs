using MoeDetect.Model.Engines;
using MoeDetect.Model.Engines.Cuda;

namespace MoeDetect.Pipeline.Benchmarking;

/// <summary>One engine configuration the benchmark loads and times: a name and the request that loads it (the
/// batch is set per run). Another engine joins the benchmark by adding its variant here.</summary>
/// <param name="BaselineFor">Set on the raw ONNX Runtime row (<see cref="RawOrtTiming"/>): the product variant whose
/// end-to-end time it is the yardstick for.</param>
public sealed record BenchVariant(string Name, EngineRequest Request, string? BaselineFor = null)
{
    /// <summary>The variant that runs what <c>--engine ort</c> runs: IOBinding with CUDA graphs and queued runs (on an
    /// ES-MoE model, the device-bound sparse engine, which takes the same settings), in NCHW; in another convolution
    /// layout its name carries the layout (<see cref="CudaSettings.LayoutSuffix"/>).</summary>
    public static readonly string OrtProduct = new CudaSettings(Layout: ConvolutionLayout.Nchw).EngineName;

    /// <summary>The variant that runs what <c>--engine ilgpu</c> runs.</summary>
    public const string IlgpuProduct = GpuEngines.Ilgpu;

    public bool IsRawBaseline => BaselineFor is not null;

    /// <summary>The convolution layout of an ORT product variant; null for every other variant.</summary>
    public static ConvolutionLayout? OrtProductLayout(string variant) =>
        ConvolutionLayouts.Measurable.Cast<ConvolutionLayout?>()
            .FirstOrDefault(l => variant == new CudaSettings(Layout: l!.Value).EngineName);

    /// <param name="cuda">The user's CUDA settings (cuDNN search, memory limit, layout); the variants set binding,
    /// CUDA graphs and queued runs, and where the layout is left to auto, the product path and ORT alone run in every layout.</param>
    public static IReadOnlyList<BenchVariant> For(ComputeDevice device, string? engine, int threads, CudaSettings cuda)
    {
        if (device == ComputeDevice.Cpu)
        {
            var cpu = new EngineRequest(ComputeDevice.Cpu, GpuEngines.Ort, threads);
            return [new("ort-cpu", cpu), new("ort-cpu-raw", cpu, BaselineFor: "ort-cpu")];
        }
        var gpu = new EngineRequest(ComputeDevice.Gpu, GpuEngines.Ort, threads);
        var layouts = cuda.Layout == ConvolutionLayout.Auto ? ConvolutionLayouts.Measurable : [cuda.Layout];
        BenchVariant Variant(bool binding, bool graphs, ConvolutionLayout layout, bool queued = true)
        {
            var settings = cuda with { DeviceBinding = binding, CudaGraphs = graphs, Layout = layout, QueuedRuns = queued };
            return new(settings.EngineName, gpu with { Cuda = settings });
        }
        BenchVariant RawFor(BenchVariant product) =>
            new("ort-cuda-raw" + product.Request.Cuda!.LayoutSuffix, product.Request, BaselineFor: product.Name);
        var products = layouts.Select(l => Variant(true, true, l)).ToList();
        BenchVariant[] ort =
        [
            Variant(false, false, layouts[0]),
            Variant(true, false, layouts[0]),
            .. products,
            .. layouts.Select(l => Variant(true, true, l, queued: false)),
            .. products.Select(RawFor),
        ];
        var ilgpu = new BenchVariant(IlgpuProduct, gpu with { Engine = GpuEngines.Ilgpu });
        // With --engine auto (the default), every GPU engine is timed in the same process: ORT's three modes (the
        // product path in each convolution layout, with runs synced and queued), ORT alone, and the project's ILGPU engine; the product paths then
        // tell auto which engine and layout to run on this machine.
        return engine switch
        {
            GpuEngines.Ort => ort,
            GpuEngines.Ilgpu => [ilgpu],
            _ => [.. ort, ilgpu],
        };
    }
}
