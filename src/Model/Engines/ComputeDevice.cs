using MoeDetect.Model.Engines.Cuda;

namespace MoeDetect.Model.Engines;

/// <summary>Where inference runs. Auto takes the GPU when one is usable and otherwise warns and uses the CPU.</summary>
public enum ComputeDevice { Cpu, Gpu, Auto }

/// <summary>What the user asked for: device, GPU engine (<see cref="GpuEngines"/>: ort, ilgpu, or auto, which picks
/// one for the model and batch), CPU threads (0 = ONNX Runtime's default), where to send warnings such as a fallback
/// to the CPU, the batch (GPU engines fix their shapes to it) and the ORT CUDA engine's settings.</summary>
public sealed record EngineRequest(ComputeDevice Device = ComputeDevice.Cpu, string Engine = GpuEngines.Auto, int Threads = 0,
    Action<string>? Warn = null, int Batch = 1, CudaSettings? Cuda = null, double? VideoHysteresis = null);
