using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace MoeDetect.Model.Engines;

/// <summary>Runs one ONNX Runtime session on named host tensors and returns named host tensors, timing the copy in
/// (tensor creation), the run and the copy out separately.</summary>
public sealed class OrtGraphRunner(InferenceSession session) : IDisposable
{
    private readonly RunOptions _runOptions = new();

    public InferenceSession Session { get; } = session;
    public double UploadMs { get; private set; }
    public double RunMs { get; private set; }
    public double DownloadMs { get; private set; }

    public void ResetTimings() => UploadMs = RunMs = DownloadMs = 0;

    public NamedTensor[] Run(IReadOnlyList<(string Name, ReadOnlyMemory<float> Data, int[] Shape)> inputs, IReadOnlyList<string> outputNames)
    {
        var clock = Stopwatch.StartNew();
        var values = new OrtValue[inputs.Count];
        try
        {
            for (int i = 0; i < inputs.Count; i++)
                values[i] = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance,
                    MemoryMarshal.AsMemory(inputs[i].Data), inputs[i].Shape.Select(d => (long)d).ToArray());
            UploadMs += clock.Elapsed.TotalMilliseconds;

            clock.Restart();
            using var results = Session.Run(_runOptions, inputs.Select(i => i.Name).ToArray(), values, outputNames.ToArray());
            RunMs += clock.Elapsed.TotalMilliseconds;

            clock.Restart();
            var tensors = new NamedTensor[outputNames.Count];
            for (int o = 0; o < tensors.Length; o++)
                tensors[o] = new NamedTensor(outputNames[o], results[o].GetTensorDataAsSpan<float>().ToArray(),
                    results[o].GetTensorTypeAndShape().Shape.Select(d => (int)d).ToArray());
            DownloadMs += clock.Elapsed.TotalMilliseconds;
            return tensors;
        }
        finally
        {
            foreach (var v in values) v?.Dispose();
        }
    }

    public void Dispose()
    {
        _runOptions.Dispose();
        Session.Dispose();
    }
}
