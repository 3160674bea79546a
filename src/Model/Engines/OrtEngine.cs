using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace MoeDetect.Model.Engines;

/// <summary>Runs one ONNX graph with ONNX Runtime on host tensors. Graphs with a fixed batch of 1 are run once per
/// item and their outputs stacked, so callers can always hand over whole batches.</summary>
public sealed class OrtEngine : IInferenceEngine
{
    private readonly InferenceSession _session;
    private readonly string _inputName;
    private readonly long[] _itemShape;
    private readonly string[] _outputNames;
    private readonly bool _fixedBatchOfOne;
    private readonly RunOptions _runOptions = new();

    public OrtEngine(InferenceSession session, string name, IReadOnlyList<string> outputNames, int maxBatch = 64)
    {
        _session = session;
        Name = name;
        var input = session.InputMetadata.Single();
        _inputName = input.Key;
        _itemShape = input.Value.Dimensions.Skip(1).Select(d => (long)d).ToArray();
        _fixedBatchOfOne = input.Value.Dimensions[0] == 1;
        _outputNames = outputNames.ToArray();
        MaxBatch = maxBatch;
    }

    public string Name { get; }
    public int MaxBatch { get; }

    public EngineOutput Run(ReadOnlyMemory<float> input, int batchSize)
    {
        int itemLength = input.Length / batchSize;
        int runs = _fixedBatchOfOne ? batchSize : 1;
        int perRun = _fixedBatchOfOne ? 1 : batchSize;
        var collected = new List<float>[_outputNames.Length];
        int[][] shapes = new int[_outputNames.Length][];
        double upload = 0, inference = 0, download = 0;
        for (int r = 0; r < runs; r++)
        {
            var clock = Stopwatch.StartNew();
            var slice = MemoryMarshal.AsMemory(input.Slice(r * perRun * itemLength, perRun * itemLength));
            using var value = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, slice, [perRun, .. _itemShape]);
            upload += clock.Elapsed.TotalMilliseconds;

            clock.Restart();
            using var results = _session.Run(_runOptions, [_inputName], [value], _outputNames);
            inference += clock.Elapsed.TotalMilliseconds;

            clock.Restart();
            for (int o = 0; o < _outputNames.Length; o++)
            {
                var span = results[o].GetTensorDataAsSpan<float>();
                (collected[o] ??= new List<float>(span.Length * runs)).AddRange(span);
                shapes[o] = results[o].GetTensorTypeAndShape().Shape.Select(d => (int)d).ToArray();
            }
            download += clock.Elapsed.TotalMilliseconds;
        }
        var tensors = new NamedTensor[_outputNames.Length];
        for (int o = 0; o < _outputNames.Length; o++)
        {
            shapes[o][0] = batchSize;
            tensors[o] = new NamedTensor(_outputNames[o], collected[o].ToArray(), shapes[o]);
        }
        return new EngineOutput(tensors, null, new EngineTimings(upload, inference, download));
    }

    public void Dispose()
    {
        _runOptions.Dispose();
        _session.Dispose();
    }
}
