using System.IO.Compression;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Decoding;
using MoeDetect.Model.Engines.Cuda;
using MoeDetect.Model.Input;
using MoeDetect.Model.Loading;
using MoeDetect.Tests.Support;
using Onnx;
using Xunit;
using Xunit.Abstractions;

namespace MoeDetect.Tests.GpuEngine;

/// <summary>The two-stage TopK the CUDA sessions get: the rewritten CenterNet graph, run on ONNX Runtime's CPU provider
/// on real coco128 images (a batch of 3), gives the same detections, heatmap and wh as the graph as stored.</summary>
public sealed class TwoStageTopKTests(ITestOutputHelper log)
{
    [SkippableFact]
    public void The_CenterNet_tail_is_split_and_gives_the_same_detections()
    {
        Skip.If(TestPaths.SharedMissing is not null, TestPaths.SharedMissing);
        var path = Path.Combine(TestPaths.Models, "centernet-mnv3.onnx");
        var original = File.ReadAllBytes(path);
        var rewritten = TwoStageTopK.Rewrite(original, path);
        var ops = ModelProto.Parser.ParseFrom(rewritten).Graph.Node.Select(n => n.OpType).ToList();
        Assert.Equal(2, ops.Count(o => o == "TopK"));
        Assert.Contains("GatherElements", ops);

        var spec = ModelLoader.DescribeInput(path);
        const int batch = 3;
        var input = new float[batch * spec.ValuesPerImage];
        var (canvases, _) = CocoImages.Canvases(spec, batch);
        for (int i = 0; i < batch; i++)
            PixelTensor.Write(spec, canvases[i], input.AsSpan(i * spec.ValuesPerImage, spec.ValuesPerImage));

        var expected = Run(original, path, input, batch);
        var actual = Run(rewritten, path, input, batch);
        foreach (var tensor in expected.Tensors)
        {
            var other = actual.Tensor(tensor.Name);
            Assert.Equal(tensor.Shape, other.Shape);
            float worst = tensor.Data.Zip(other.Data, (a, b) => Math.Abs(a - b)).Max();
            log.WriteLine($"{tensor.Name} [{string.Join(",", tensor.Shape)}]: max abs diff {worst:g3}");
            // The detections hold the top 100 scores, their classes and boxes; the real heatmaps have no ties among them.
            Assert.Equal(0f, worst);
        }
    }

    [Fact]
    public void A_graph_fixed_at_a_large_batch_is_split_alike()
    {
        // As the CUDA engines load it: 8-bit input, batch fixed to 16; its row length is learnt from a batch of 2.
        var path = Path.Combine(TestPaths.Models, "centernet-mnv3.onnx");
        var original = File.ReadAllBytes(path);
        var pixels = PixelInputGraph.Rewrite(original, ModelLoader.DescribeInput(path), batch: 16);

        var rewritten = ModelProto.Parser.ParseFrom(TwoStageTopK.Rewrite(pixels, path));

        var slices = rewritten.Graph.Initializer.Single(t => t.Name.EndsWith("/two_stage/slices_shape"));
        Assert.Equal([-1, TwoStageTopK.Rows, 128 * 128 * 80 / TwoStageTopK.Rows], slices.Int64Data);
        Assert.Equal(16, rewritten.Graph.Input.Single().Type.TensorType.Shape.Dim[0].DimValue);
    }

    [Fact]
    public void Graphs_without_a_long_TopK_are_left_as_they_are()
    {
        var nanodet = File.ReadAllBytes(Path.Combine(TestPaths.Models, "nanodet-g.onnx"));
        Assert.Same(nanodet, TwoStageTopK.Rewrite(nanodet, "nanodet-g.onnx"));
    }

    [Fact]
    public void A_graph_that_does_not_load_at_a_batch_of_2_is_probed_at_its_own_batch()
    {
        // NanoDet's candidate graph as the GPU engines run it (8-bit input, batch fixed at 8, through the pad folding's
        // optimisation pass, which records inferred shapes) declares shapes that a batch of 2 contradicts; its short
        // TopK rows are left alone, and loading must not fail.
        string path = Path.Combine(TestPaths.Models, "nanodet-g.onnx");
        using var dense = ModelLoader.Load(path, new EngineRequest(Threads: 1));
        var (candidates, _) = CandidateGraph.Rewrite(File.ReadAllBytes(path), dense.Decoder);
        var pixels = PadFolding.Apply(PixelInputGraph.Rewrite(candidates, dense.Input, batch: 8));

        Assert.Same(pixels, TwoStageTopK.Rewrite(pixels, path));
    }

    [Fact]
    public void The_ES_MoE_model_tail_is_split_too()
    {
        using var zip = ZipFile.OpenRead(Path.Combine(TestPaths.Models, "esmoe-centernet.moedet"));
        using var stream = zip.GetEntry("outputs.onnx")!.Open();
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        var rewritten = TwoStageTopK.Rewrite(copy.ToArray(), "outputs.onnx");
        Assert.Equal(2, ModelProto.Parser.ParseFrom(rewritten).Graph.Node.Count(n => n.OpType == "TopK"));
    }

    private static EngineOutput Run(byte[] model, string label, float[] input, int batch)
    {
        var session = OrtSessionFactory.Create(model, label, threads: 0, cuda: null);
        using var engine = new OrtEngine(session, "ort-cpu", [.. session.OutputMetadata.Keys]);
        return engine.Run(input, batch);
    }
}
