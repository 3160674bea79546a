using System.Text.Json.Nodes;
using MoeDetect.Model;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Loading;
using MoeDetect.Model.Moe;
using MoeDetect.Tests.Support;

namespace MoeDetect.Tests.Moe;

/// <summary>The ONNX Runtime MoE engine on <see cref="TinyMoeModel"/>: which experts ran, with what weights, and
/// what compute each frame reports.</summary>
public class MoeOrtEngineTests
{
    private readonly string _folder = TestPaths.NewTempFolder();

    private string WriteModel(JsonObject routing, Action<JsonObject>? edit = null, bool includeExpert1 = true) =>
        TinyMoeModel.Write(_folder, routing, edit, includeExpert1);

    private static float[] Frames(params float[] values) => TinyMoeModel.Frames(values);

    [Fact]
    public void Each_frame_runs_only_its_chosen_expert_and_reports_route_and_compute()
    {
        using var model = ModelLoader.Load(WriteModel(new JsonObject { ["mode"] = "top-k", ["k"] = 1 }), new EngineRequest(Threads: 1));
        Assert.True(model.IsMixtureOfExperts);
        var output = model.Engine.Run(Frames(0.1f, 0.9f, 0.05f), 3);

        Assert.Equal(Frames(0.2f, 2.7f, 0.1f), output.Tensor("block_out").Data, new FloatTolerance(1e-5f));
        Assert.Equal([[0], [1], [0]], output.Routes!.Select(r => r.ExpertsPerBlock[0]));
        Assert.Equal([1.51, 2.51, 1.51], output.Routes!.Select(r => Math.Round(r.Gflops, 6)));
        Assert.True(output.Timings.RouteMs > 0 && output.Timings.ExpertsMs > 0);
    }

    [Fact]
    public void Top_k_two_mixes_experts_with_renormalised_router_weights()
    {
        using var model = ModelLoader.Load(WriteModel(new JsonObject { ["mode"] = "top-k", ["k"] = 2 }), new EngineRequest(Threads: 1));
        var output = model.Engine.Run(Frames(0.5f), 1);
        // mean 0.5 → logits [0, 0, 0]: all equal, the first two (0 and 1) are taken with weight ½ each.
        Assert.Equal([0, 1], output.Routes![0].ExpertsPerBlock[0]);
        Assert.Equal(Frames(0.5f * (2 + 3) / 2), output.Tensor("block_out").Data, new FloatTolerance(1e-5f));
        Assert.Equal(3.51, output.Routes[0].Gflops, 6);
    }

    [Fact]
    public void Files_that_are_not_valid_models_are_rejected_naming_the_problem()
    {
        var wrongVersion = WriteModel(new JsonObject(), m => m["version"] = 7);
        Assert.Contains("format version 7 is not supported", Assert.Throws<InvalidModelException>(() => ModelLoader.Load(wrongVersion, new EngineRequest())).Message);
        var missingGraph = WriteModel(new JsonObject(), includeExpert1: false);
        Assert.Contains("graph 'e1.onnx' is not in the archive", Assert.Throws<InvalidModelException>(() => ModelLoader.Load(missingGraph, new EngineRequest())).Message);
        var danglingInput = WriteModel(new JsonObject(), m => m["steps"]![1]!["input"] = "nowhere");
        Assert.Contains("input 'nowhere' is not produced by an earlier step", Assert.Throws<InvalidModelException>(() => ModelLoader.Load(danglingInput, new EngineRequest())).Message);
        var notZip = Path.Combine(_folder, "plain.moedet");
        File.WriteAllText(notZip, "hello");
        Assert.Contains("not a ZIP archive", Assert.Throws<InvalidModelException>(() => ModelLoader.Load(notZip, new EngineRequest())).Message);
    }

    private sealed class FloatTolerance(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float a, float b) => Math.Abs(a - b) <= tolerance;
        public int GetHashCode(float value) => 0;
    }
}
