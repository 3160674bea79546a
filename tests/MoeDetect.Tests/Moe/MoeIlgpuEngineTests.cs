using System.Text.Json.Nodes;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Ilgpu;
using MoeDetect.Model.Ilgpu.Moe;
using MoeDetect.Model.Input;
using MoeDetect.Model.Loading;
using MoeDetect.Model.Moe;
using MoeDetect.Tests.Support;

namespace MoeDetect.Tests.Moe;

/// <summary>The ILGPU MoE engine (on ILGPU's CPU accelerator) against the ONNX Runtime MoE engine on
/// <see cref="TinyMoeModel"/>, extended with a two-input tail segment (sum = features + block_out) so that segments
/// with several inputs are covered: same routes, same GFLOPs, same tensors.</summary>
public class MoeIlgpuEngineTests
{
    private readonly string _folder = TestPaths.NewTempFolder();

    private MoeModelFile WriteModel(JsonObject routing)
    {
        var tail = new TestOnnx("tail").Input("features", -1, 3, 2, 2).Input("block_out", -1, 3, 2, 2).Output("sum", -1, 3, 2, 2)
            .Node("Add", ["features", "block_out"], "sum").ToBytes();
        string path = TinyMoeModel.Write(_folder, routing, m =>
        {
            m["steps"]!.AsArray().Add(new JsonObject
            {
                ["kind"] = "segment", ["name"] = "tail", ["onnx"] = "tail.onnx", ["gflops"] = 0.25,
                ["inputs"] = new JsonArray("features", "block_out"), ["outputs"] = new JsonArray("sum"),
            });
            m["decoder_outputs"] = new JsonArray("block_out", "sum");
        }, extraGraphs: new Dictionary<string, byte[]> { ["tail.onnx"] = tail });
        return MoeModelFile.Open(path);
    }

    [Theory]
    // top-1, five frames: expert 0 gets frames 0, 2, 4 (run as groups of 2 and 1), expert 1 frames 1 and 3.
    [InlineData("top-k", 1, new[] { 0.1f, 0.9f, 0.05f, 0.8f, 0.2f })]
    // top-3: every frame mixes all three experts, the identity (skip) included, with unequal weights.
    [InlineData("top-k", 3, new[] { 0.5f, 0.9f, 0.3f })]
    // top-p 0.6: the mid-grey frame needs two experts, the others one.
    [InlineData("top-p", 1, new[] { 0.45f, 0.95f, 0.0f, 0.55f })]
    // every frame chose expert 0: the expert's output is the block output as it is.
    [InlineData("top-k", 1, new[] { 0.1f, 0.2f, 0.0f, 0.3f })]
    public void Matches_the_onnx_runtime_engine_in_routes_compute_and_outputs(string mode, int k, float[] brightness)
    {
        var file = WriteModel(new JsonObject { ["mode"] = mode, ["k"] = k, ["p"] = 0.6 });
        using var ort = new MoeOrtEngine(file, new EngineRequest(Threads: 1), [3, 2, 2]);
        using var ilgpu = MoeIlgpuEngine.Load(file, new EngineRequest(), [3, 2, 2], IlgpuTarget.CpuAccelerator);
        var input = TinyMoeModel.Frames(brightness);
        var expected = ort.Run(input, brightness.Length);
        var actual = ilgpu.Run(input, brightness.Length);

        Assert.Equal(expected.Routes!.Select(r => r.ExpertsPerBlock), actual.Routes!.Select(r => r.ExpertsPerBlock));
        Assert.Equal(expected.Routes!.Select(r => r.Gflops), actual.Routes!.Select(r => r.Gflops));
        foreach (var name in new[] { "block_out", "sum" })
        {
            Assert.Equal(expected.Tensor(name).Shape, actual.Tensor(name).Shape);
            Assert.Equal(expected.Tensor(name).Data, actual.Tensor(name).Data, (a, b) => Math.Abs(a - b) <= 1e-6f);
        }
        Assert.True(actual.Timings.RouteMs > 0 && actual.Timings.ExpertsMs > 0);
    }

    [Fact]
    public void Canvases_normalised_on_the_device_route_and_run_as_the_same_frames_in_floats()
    {
        var file = WriteModel(new JsonObject { ["mode"] = "top-k", ["k"] = 1 });
        var spec = MoeModelLoader.Input(file);
        using var ilgpu = MoeIlgpuEngine.Load(file, new EngineRequest(), [3, 2, 2], IlgpuTarget.CpuAccelerator, maxBatch: 3);
        // A dark, a bright and a mixed canvas: the router sends them to different experts.
        byte[][] canvases = [new byte[12], [.. Enumerable.Repeat((byte)240, 12)], [0, 255, 30, 90, 200, 7, 128, 64, 250, 1, 99, 180]];
        var floats = new float[3 * spec.ValuesPerImage];
        for (int i = 0; i < 3; i++)
        {
            PixelTensor.Write(spec, canvases[i], floats.AsSpan(i * spec.ValuesPerImage, spec.ValuesPerImage));
            canvases[i].CopyTo(ilgpu.PixelStaging.Slice(i * spec.ValuesPerImage));
        }

        var fromPixels = ilgpu.RunPixels(3);
        var fromFloats = ilgpu.Run(floats, 3);

        Assert.Equal(fromFloats.Routes!.Select(r => r.ExpertsPerBlock), fromPixels.Routes!.Select(r => r.ExpertsPerBlock));
        Assert.NotEqual(fromPixels.Routes![0].ExpertsPerBlock, fromPixels.Routes![1].ExpertsPerBlock);
        foreach (var name in new[] { "block_out", "sum" })
            Assert.Equal(fromFloats.Tensor(name).Data, fromPixels.Tensor(name).Data);
    }

    [Fact]
    public void Later_batches_reuse_plans_and_buffers_without_leaking_earlier_results()
    {
        var file = WriteModel(new JsonObject { ["mode"] = "top-k", ["k"] = 1 });
        using var ilgpu = MoeIlgpuEngine.Load(file, new EngineRequest(), [3, 2, 2], IlgpuTarget.CpuAccelerator);
        ilgpu.Run(TinyMoeModel.Frames(0.9f, 0.1f, 0.8f), 3);
        var second = ilgpu.Run(TinyMoeModel.Frames(0.2f, 0.7f, 0.1f), 3);
        Assert.Equal(TinyMoeModel.Frames(0.4f, 2.1f, 0.2f), second.Tensor("block_out").Data, (a, b) => Math.Abs(a - b) <= 1e-6f);
    }

    [Fact]
    public void Engine_ilgpu_runs_model_files_on_the_gpu_or_warns_and_falls_back_to_the_cpu_on_auto()
    {
        string path = TinyMoeModel.Write(_folder, new JsonObject());
        var warnings = new List<string>();
        using var model = ModelLoader.Load(path, new EngineRequest(ComputeDevice.Auto, "ilgpu", Warn: warnings.Add));
        if (model.Engine.Name.StartsWith("ilgpu-cuda")) return;
        Assert.Equal("onnxruntime-cpu-moe", model.Engine.Name);
        Assert.Contains(warnings, w => w.Contains("no NVIDIA GPU") && w.Contains("running on the CPU"));
        var e = Assert.Throws<GpuUnavailableException>(() => ModelLoader.Load(path, new EngineRequest(ComputeDevice.Gpu, "ilgpu")));
        Assert.Contains("--device cpu", e.Message);
    }
    /// <summary>ilgpu-bench's profile of a model file: every plan the runs built, in manifest order, its launches timed.
    /// Top-1 over a dark and a bright frame: the stem, the router, each expert at the one-frame batch its group ran, the
    /// tail; the skip expert has no plan.</summary>
    [Fact]
    public void Profiles_every_plan_the_runs_built_piece_by_piece()
    {
        var file = WriteModel(new JsonObject { ["mode"] = "top-k", ["k"] = 1 });
        using var engine = MoeIlgpuEngine.Load(file, new EngineRequest(), [3, 2, 2], IlgpuTarget.CpuAccelerator);
        engine.Run(TinyMoeModel.Frames(0.1f, 0.9f), 2);

        var pieces = engine.ProfilePlans(iterations: 2);

        Assert.Equal([("stem", "2,3,2,2"), ("block1 router", "2,3,2,2"), ("block1 expert double", "1,3,2,2"), ("block1 expert triple", "1,3,2,2"),
            ("tail", "2,3,2,2;2,3,2,2")], pieces.Select(p => (p.Piece, p.InputShapes)));
        Assert.All(pieces, p => Assert.True(p.Steps.Count > 0 && p.Steps.All(s => s.Ms > 0), $"{p.Piece}: no timed launches"));
    }
}
