using System.Diagnostics;
using ILGPU;
using ILGPU.Runtime;
using MoeDetect.Model.Engines;

namespace MoeDetect.Model.Ilgpu;

/// <summary>The compiled graph for one input shape: kernel launches in order over planned memory. A run uploads the
/// input, queues every launch on the plan's stream (replayed as CUDA graphs after the first run), synchronises once,
/// and downloads the outputs.</summary>
internal sealed class ExecutionPlan(Accelerator accelerator, DeviceTensor input, StepSequence steps,
    IReadOnlyList<(string Name, Value Value)> outputs, IReadOnlyList<MemoryBuffer> owned, long intermediateBytes) : IDisposable
{
    public long IntermediateBytes { get; } = intermediateBytes;
    public StepSequence Steps => steps;

    /// <summary>Every graph input's device tensor, the first being the one <see cref="Run"/> writes.</summary>
    public IReadOnlyList<DeviceTensor> Inputs { get; init; } = [input];

    /// <summary>The outputs where the plan leaves them (device tensors, or values folded on the host at plan time).</summary>
    public IReadOnlyList<(string Name, Value Value)> Outputs => outputs;

    /// <summary>Queues every launch on the plan's stream and returns without synchronising or downloading, for
    /// callers that keep the outputs on the device (the MoE engine chains plans). Inputs must be written first.</summary>
    public void Enqueue() => steps.Run();

    /// <summary>Runs with the input written by <paramref name="writeInput"/> (an upload or a preprocessing kernel);
    /// the time it takes is reported as upload time.</summary>
    public EngineOutput Run(Action<ArrayView<float>> writeInput)
    {
        var clock = Stopwatch.StartNew();
        writeInput(input.View);
        double upload = clock.Elapsed.TotalMilliseconds;

        clock.Restart();
        steps.Run();
        accelerator.Synchronize();
        double inference = clock.Elapsed.TotalMilliseconds;

        clock.Restart();
        var tensors = new List<NamedTensor>(outputs.Count);
        foreach (var (name, value) in outputs)
        {
            float[] values;
            if (value.Device is { } t)
            {
                values = new float[t.Length];
                DeviceMemory.Download(t.View, values);
            }
            else values = value.Host!.ToFloats();
            tensors.Add(new NamedTensor(name, values, value.Shape));
        }
        return new EngineOutput(tensors, null, new EngineTimings(upload, inference, clock.Elapsed.TotalMilliseconds));
    }

    public void Dispose()
    {
        steps.Dispose();
        foreach (var buffer in owned) buffer.Dispose();
    }
}
