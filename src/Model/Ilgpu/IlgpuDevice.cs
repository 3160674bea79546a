using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using MoeDetect.Kernels.Tensors;

namespace MoeDetect.Model.Ilgpu;

/// <summary>Where the ILGPU engine runs: an NVIDIA GPU through CUDA, or ILGPU's CPU accelerator (slow; it runs the
/// same kernels and exists so the engine can be tested without a GPU). <see cref="CpuAcceleratorEmulatedTensorCores"/>:
/// the CPU accelerator with warps of 32 lanes, whose plans run each GEMM on the tensor-core kernel that takes it, its
/// instructions emulated (slower still: to test those kernels end to end).</summary>
public enum IlgpuTarget { Cuda, CpuAccelerator, CpuAcceleratorEmulatedTensorCores }

/// <summary>No CUDA device is usable; the caller decides whether to fall back to the CPU engine.</summary>
public sealed class GpuUnavailableException(string message, Exception? inner = null) : MoeDetectException(message, inner);

/// <summary>An ILGPU context, the accelerator opened on it, and the stream the engine launches on: on CUDA a stream of
/// its own (CUDA graphs cannot capture the legacy default stream), created blocking so that ILGPU's copies on the
/// default stream stay ordered with it; on the CPU accelerator its default stream.</summary>
internal sealed class IlgpuDevice(Context context, Accelerator accelerator) : IDisposable
{
    public Accelerator Accelerator { get; } = accelerator;

    /// <summary>Plans put GEMMs on the emulated tensor-core kernels (<see cref="IlgpuTarget.CpuAcceleratorEmulatedTensorCores"/>).</summary>
    public bool EmulatesTensorCores { get; private init; }
    public AcceleratorStream Stream { get; } = accelerator is CudaAccelerator cuda
        ? cuda.CreateStream(StreamFlags.CU_STREAM_DEFAULT)
        : accelerator.DefaultStream;

    /// <summary>Makes the accelerator's CUDA context current on the calling thread. CUDA contexts are per thread, and
    /// the pipeline calls the engine from threads other than the one that loaded it (async continuations, camera
    /// workers), where every driver call would otherwise fail with "invalid device context".</summary>
    public void BindToThisThread() => Accelerator.Bind();

    public static IlgpuDevice Open(IlgpuTarget target)
    {
        if (target != IlgpuTarget.Cuda)
        {
            // One thread per core and the smallest warp (2 lanes): the kernels use no warp or group intrinsics, and ILGPU's
            // default CPU device (several simulated lanes per core) spends most of its time synchronising them. The
            // tensor-core kernels need warps of 32 lanes and groups of 4 warps.
            bool tensorCores = target == IlgpuTarget.CpuAcceleratorEmulatedTensorCores;
            var device = tensorCores ? new CPUDevice(32, TensorCoreConvolutionKernel.GroupSize / 32, Environment.ProcessorCount)
                : new CPUDevice(2, 1, Environment.ProcessorCount);
            var cpu = Context.Create(b => b.CPU(device).EnableAlgorithms().Profiling());
            return new IlgpuDevice(cpu, cpu.CreateCPUAccelerator(0, CPUAcceleratorMode.Parallel)) { EmulatesTensorCores = tensorCores };
        }
        Context context;
        try
        {
            // Profiling: stream markers (timed events) time the MoE engine's stages on the device.
            context = Context.Create(b => b.Cuda().EnableAlgorithms().Profiling());
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new GpuUnavailableException($"--engine ilgpu: CUDA could not be initialised ({e.GetType().Name}: {e.Message.Split('\n')[0]}); use --device cpu", e);
        }
        var devices = context.GetCudaDevices();
        if (devices.Count == 0)
        {
            context.Dispose();
            throw new GpuUnavailableException("--engine ilgpu: no NVIDIA GPU with a CUDA driver was found; use --device cpu or check the driver (nvidia-smi)");
        }
        return new IlgpuDevice(context, devices[0].CreateAccelerator(context));
    }

    public void Dispose()
    {
        if (Stream != Accelerator.DefaultStream) Stream.Dispose();
        Accelerator.Dispose();
        context.Dispose();
    }
}
