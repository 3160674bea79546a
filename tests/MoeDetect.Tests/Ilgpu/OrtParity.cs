using Xunit;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MoeDetect.Model.Ilgpu;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>Runs one graph with ONNX Runtime (CPU) and with the ILGPU engine on ILGPU's CPU accelerator and
/// reports the largest absolute difference over all outputs.</summary>
internal static class OrtParity
{
    public static float MaxAbsError(byte[] model, int[] inputShape, int seed = 7, float scale = 1f)
    {
        var input = TinyOnnxGraph.RandomValues(seed, inputShape.Aggregate(1, (a, b) => a * b), scale);
        return MaxAbsError(model, inputShape, input);
    }

    public static float MaxAbsError(byte[] model, int[] inputShape, float[] input)
    {
        var expected = RunOrt(model, inputShape, input);
        using var engine = IlgpuEngine.Load(model, "test graph", IlgpuTarget.CpuAccelerator);
        var actual = engine.Run(input, inputShape[0]);
        float worst = 0;
        foreach (var (name, (values, shape)) in expected)
        {
            var tensor = actual.Tensor(name);
            Assert.Equal(shape, tensor.Shape);
            for (int i = 0; i < values.Length; i++) worst = Math.Max(worst, Math.Abs(values[i] - tensor.Data[i]));
        }
        return worst;
    }

    public static Dictionary<string, (float[] Values, int[] Shape)> RunOrt(byte[] model, int[] inputShape, float[] input)
    {
        using var session = new InferenceSession(model);
        var name = session.InputMetadata.Keys.Single();
        var tensor = new DenseTensor<float>(input, inputShape);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(name, tensor)]);
        return results.ToDictionary(r => r.Name, r => r.Value switch
        {
            DenseTensor<float> f => (f.ToArray(), f.Dimensions.ToArray()),
            DenseTensor<long> l => (l.Select(v => (float)v).ToArray(), l.Dimensions.ToArray()),
            var other => throw new InvalidOperationException($"output {r.Name} has type {other?.GetType()}"),
        });
    }
}
