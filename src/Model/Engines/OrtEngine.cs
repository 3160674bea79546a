namespace MoeDetect.Model.Engines;

/// <summary>Runs one ONNX graph with ONNX Runtime on host tensors. Graphs with a fixed batch of 1 are run once per
/// item and their outputs stacked, so callers can always hand over whole batches.</summary>
public sealed class OrtEngine : IInferenceEngine
{
    private readonly OrtGraphRunner _runner;
    private readonly string _inputName;
    private readonly int[] _itemShape;
    private readonly string[] _outputNames;
    private readonly bool _fixedBatchOfOne;

    public OrtEngine(Microsoft.ML.OnnxRuntime.InferenceSession session, string name, IReadOnlyList<string> outputNames, int maxBatch = 64)
    {
        _runner = new OrtGraphRunner(session);
        Name = name;
        var input = session.InputMetadata.Single();
        _inputName = input.Key;
        _itemShape = input.Value.Dimensions.Skip(1).ToArray();
        _fixedBatchOfOne = input.Value.Dimensions[0] == 1;
        _outputNames = outputNames.ToArray();
        MaxBatch = maxBatch;
    }

    public string Name { get; }
    public int MaxBatch { get; }

    public EngineOutput Run(ReadOnlyMemory<float> input, int batchSize)
    {
        _runner.ResetTimings();
        if (!_fixedBatchOfOne)
        {
            var all = _runner.Run([(_inputName, input, [batchSize, .. _itemShape])], _outputNames);
            return new EngineOutput(all, null, Timings());
        }
        int itemLength = input.Length / batchSize;
        var perItem = Enumerable.Range(0, batchSize)
            .Select(i => _runner.Run([(_inputName, input.Slice(i * itemLength, itemLength), [1, .. _itemShape])], _outputNames))
            .ToList();
        var stacked = _outputNames.Select((name, o) => NamedTensor.Stack(name, perItem.Select(r => r[o]).ToList())).ToArray();
        return new EngineOutput(stacked, null, Timings());
    }

    private EngineTimings Timings() => new(_runner.UploadMs, _runner.RunMs, _runner.DownloadMs);

    public void Dispose() => _runner.Dispose();
}
