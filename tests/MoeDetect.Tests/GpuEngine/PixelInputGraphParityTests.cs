using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MoeDetect.Model.Decoding;
using MoeDetect.Model.Detections;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Input;
using MoeDetect.Model.Loading;
using MoeDetect.Tests.Support;
using Xunit;

namespace MoeDetect.Tests.GpuEngine;

/// <summary>The uint8-input graph (normalisation moved into the graph, as the GPU engine runs it) against the float
/// path (normalisation on the CPU), both on ONNX Runtime's CPU execution provider: same tensors, same detections.</summary>
public sealed class PixelInputGraphParityTests : IDisposable
{
    private readonly string _tinyModel = Path.Combine(Path.GetTempPath(), $"moedetect-tiny-{Guid.NewGuid():N}.onnx");

    public PixelInputGraphParityTests() => File.WriteAllBytes(_tinyModel, TinyDetectorGraph.Build());

    public void Dispose() => File.Delete(_tinyModel);

    [Fact]
    public void Rewritten_graph_takes_a_fixed_batch_of_8_bit_HWC_canvases()
    {
        var bytes = File.ReadAllBytes(_tinyModel);
        var spec = InputSpec.Ultralytics("images", TinyDetectorGraph.Size, TinyDetectorGraph.Size);
        Assert.Null(PixelInputGraph.FixedBatch(bytes, spec));

        using var session = new InferenceSession(PixelInputGraph.Rewrite(bytes, spec, batch: 4));

        var (name, input) = Assert.Single(session.InputMetadata);
        Assert.Equal(PixelInputGraph.InputName, name);
        Assert.Equal(TensorElementType.UInt8, input.ElementDataType);
        Assert.Equal([4, TinyDetectorGraph.Size, TinyDetectorGraph.Size, 3], input.Dimensions);
    }

    [Theory]
    [InlineData(new float[] { 0, 0, 0 }, new float[] { 255, 255, 255 }, false, "Transpose Gather Cast Mul")]
    [InlineData(new float[] { 103.53f, 116.28f, 123.675f }, new float[] { 57.375f, 57.12f, 58.395f }, false, "Transpose Gather Cast Sub Mul")]
    [InlineData(new float[] { 127, 127, 127 }, new float[] { 1, 1, 1 }, false, "Transpose Gather Cast Sub")]
    [InlineData(new float[] { 0, 0, 0 }, new float[] { 1, 1, 1 }, false, "Transpose Gather Cast Identity")]
    // Only convolutions read the input: the channel order and 1/std go into their weights.
    [InlineData(new float[] { 0, 0, 0 }, new float[] { 255, 255, 255 }, true, "Transpose Cast Identity")]
    [InlineData(new float[] { 103.53f, 116.28f, 123.675f }, new float[] { 57.375f, 57.12f, 58.395f }, true, "Transpose Cast Sub")]
    [InlineData(new float[] { 0, 0, 0 }, new float[] { 1, 1, 1 }, true, "Transpose Cast Identity")]
    public void Normalisation_passes_that_change_nothing_or_fold_into_the_convolutions_are_left_out(float[] mean, float[] std,
        bool onlyConvolutionsRead, string expected)
    {
        var spec = InputSpec.Ultralytics("images", TinyDetectorGraph.Size, TinyDetectorGraph.Size) with { Mean = mean, Std = std };
        var model = TinyDetectorGraph.Build(inputReadOutsideConvolutions: !onlyConvolutionsRead);

        var graph = Onnx.ModelProto.Parser.ParseFrom(PixelInputGraph.Rewrite(model, spec, batch: 2)).Graph;

        var prepended = graph.Node.TakeWhile(n => n.Output[0] != "images").Append(graph.Node.First(n => n.Output[0] == "images"))
            .Select(n => n.OpType);
        Assert.Equal(expected, string.Join(" ", prepended));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void Ultralytics_style_graph_gives_the_same_detections_from_pixels_as_from_floats(bool openAnchors, bool inputReadOutsideConvolutions)
    {
        // With an open output dimension the engine learns the output shapes from a first run instead of the graph.
        // Read by convolutions only, the input's channel order and scale are folded into their weights.
        File.WriteAllBytes(_tinyModel, TinyDetectorGraph.Build(openAnchors, inputReadOutsideConvolutions: inputReadOutsideConvolutions));
        // Dynamic batch fixed to 4 by the rewrite; 3 frames exercise a partial batch.
        var random = new Random(11);
        var canvases = Enumerable.Range(0, 3).Select(_ =>
        {
            var c = new byte[3 * TinyDetectorGraph.Size * TinyDetectorGraph.Size];
            random.NextBytes(c);
            return c;
        }).ToArray();
        var sources = canvases.Select(_ => (TinyDetectorGraph.Size, TinyDetectorGraph.Size)).ToArray();

        int detections = AssertSameResults(_tinyModel, canvases, sources, batch: 4);

        Assert.True(detections > 0, "the tiny graph should yield detections on random pixels, or the comparison proves nothing");
    }

    [SkippableTheory]
    [InlineData("centernet-mnv3.onnx", 4)]
    [InlineData("nanodet-g.onnx", 3)]
    public void Converted_teachers_give_the_same_detections_from_pixels_as_from_floats_on_real_images(string modelFile, int images)
    {
        Skip.If(TestPaths.SharedMissing is not null, TestPaths.SharedMissing);
        // The converted graphs take a free batch, so the pixel graph runs the whole batch of 4 at once (3 images: a partial batch).
        var path = Path.Combine(TestPaths.Models, modelFile);
        var spec = ModelLoader.DescribeInput(path);
        Assert.Null(PixelInputGraph.FixedBatch(File.ReadAllBytes(path), spec));
        var (canvases, sources) = CocoImages.Canvases(spec, images);

        int detections = AssertSameResults(path, canvases, sources, batch: 4);

        Assert.True(detections >= images, $"{modelFile} should find objects in {images} COCO images, found {detections}");
    }

    /// <summary>Runs both paths on the same canvases; returns how many detections they agreed on.</summary>
    private static int AssertSameResults(string modelPath, byte[][] canvases, (int Width, int Height)[] sources, int batch)
    {
        int n = canvases.Length;
        using var floatModel = ModelLoader.Load(modelPath, new EngineRequest(ComputeDevice.Cpu));
        var spec = floatModel.Input;
        int per = spec.ValuesPerImage;
        var floats = new float[n * per];
        for (int i = 0; i < n; i++) PixelTensor.Write(spec, canvases[i], floats.AsSpan(i * per, per));
        var expected = floatModel.Engine.Run(floats, n);

        using var pixelEngine = ModelLoader.CreateBound(File.ReadAllBytes(modelPath), modelPath, new EngineRequest(Batch: batch),
            spec, floatModel.Decoder.OutputNames, cuda: null, new HostTensorMemory());
        for (int i = 0; i < n; i++) canvases[i].CopyTo(pixelEngine.PixelStaging.Slice(i * per, per));
        var actual = pixelEngine.RunPixels(n);

        foreach (var e in expected.Tensors)
        {
            var a = actual.Tensor(e.Name);
            Assert.Equal(e.Shape, a.Shape);
            double worst = e.Data.Zip(a.Data, (x, y) => Math.Abs(x - y) / Math.Max(1, Math.Abs(x))).Max();
            Assert.True(worst < 1e-4, $"{e.Name}: pixel path differs from float path by up to {worst:g3} (relative)");
        }

        var options = new DecodeOptions();
        int agreed = 0;
        for (int i = 0; i < n; i++)
        {
            var letterbox = LetterboxTransform.Create(sources[i].Width, sources[i].Height, spec.Width, spec.Height, spec.CenteredLetterbox);
            var want = floatModel.Decoder.Decode(expected, i, letterbox, options);
            var got = floatModel.Decoder.Decode(actual, i, letterbox, options);
            agreed += DetectionAssert.Same(want, got, pixels: 0.01f);
        }
        return agreed;
    }
}
