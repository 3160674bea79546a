using MoeDetect.Model.Engines;
using MoeDetect.Model.Input;
using MoeDetect.Model.Loading;
using MoeDetect.Tests.Support;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Conversion;

/// <summary>The converted teachers take a free batch: one run over N real coco128 images gives, output by output, what
/// N runs of one image give (ONNX Runtime CPU, the product's loader).</summary>
public class BatchedTeacherTests(ITestOutputHelper log)
{
    [SkippableTheory]
    [InlineData("centernet-mnv3.onnx")]
    [InlineData("nanodet-g.onnx")]
    public void A_batch_gives_exactly_what_its_images_give_one_by_one(string modelFile)
    {
        Skip.If(TestPaths.SharedMissing is not null, TestPaths.SharedMissing);
        const int batch = 4;
        var path = Path.Combine(TestPaths.Models, modelFile);
        var spec = ModelLoader.DescribeInput(path);
        Assert.Null(PixelInputGraph.FixedBatch(File.ReadAllBytes(path), spec));
        // Every graph output, not only those the decoder reads (CenterNet's heatmap and wh as well as its detections).
        var session = OrtSessionFactory.Create(File.ReadAllBytes(path), path, threads: 1, cuda: null);
        using var engine = new OrtEngine(session, "ort-cpu", [.. session.OutputMetadata.Keys]);
        var input = RealImages(spec, batch);
        int per = spec.ValuesPerImage;

        var batched = engine.Run(input, batch);
        var single = Enumerable.Range(0, batch).Select(i => engine.Run(input.AsMemory(i * per, per), 1)).ToList();

        foreach (var output in batched.Tensors)
        {
            Assert.Equal(batch, output.Shape[0]);
            int itemLength = output.Data.Length / batch;
            double worst = 0;
            for (int i = 0; i < batch; i++)
            {
                var alone = single[i].Tensor(output.Name);
                Assert.Equal([1, .. output.Shape[1..]], alone.Shape);
                worst = Math.Max(worst, output.Data.AsSpan(i * itemLength, itemLength).ToArray()
                    .Zip(alone.Data, (a, b) => (double)Math.Abs(a - b)).Max());
            }
            log.WriteLine($"{modelFile} {output.Name} [{string.Join(",", output.Shape)}]: max |batch − one by one| = {worst:g3}");
            // Batched convolutions may sum in another order; anything beyond float rounding is a batch mix-up.
            Assert.True(worst <= 1e-3, $"{modelFile} {output.Name}: batch of {batch} differs from single runs by {worst:g3}");
        }
    }

    /// <summary>The first <paramref name="count"/> coco128 images, letterboxed and normalised as the model wants.</summary>
    private static float[] RealImages(InputSpec spec, int count)
    {
        var input = new float[count * spec.ValuesPerImage];
        var (canvases, _) = CocoImages.Canvases(spec, count);
        for (int i = 0; i < count; i++)
            PixelTensor.Write(spec, canvases[i], input.AsSpan(i * spec.ValuesPerImage, spec.ValuesPerImage));
        return input;
    }
}
