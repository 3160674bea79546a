using MoeDetect.Model.Engines;
using MoeDetect.Model.Ilgpu;
using MoeDetect.Model.Ilgpu.Moe;
using MoeDetect.Model.Moe;
using MoeDetect.Pipeline.Inference;
using MoeDetect.Tests.Support;
using Xunit.Abstractions;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>The shipped ES-MoE model, models/esmoe-centernet.moedet, through the ILGPU MoE engine on the CPU
/// accelerator against the ONNX Runtime MoE engine, on one batch of real coco128 photos whose routers choose
/// differently: 000000000472 and 000000000575 differ in 6 of the 10 blocks (in block2 one of them skips the block:
/// the identity expert) and agree in 4 (the single-expert path). The second photo three times: its experts' groups of
/// 3 frames run padded to plans for 4. Slow (minutes here): trait Category=Slow.</summary>
public sealed class MoeEndToEndTests(ITestOutputHelper log)
{
    private static readonly string[] Photos = ["000000000472.jpg", "000000000575.jpg", "000000000575.jpg", "000000000575.jpg"];

    [SkippableFact]
    [Trait("Category", "Slow")]
    public void Esmoe_model_matches_onnx_runtime_on_two_photos_that_route_differently()
    {
        Skip.If(TestPaths.SharedMissing is not null, TestPaths.SharedMissing);
        var file = MoeModelFile.Open(Path.Combine(TestPaths.Models, "esmoe-centernet.moedet"));
        var spec = MoeModelLoader.Input(file);
        var input = new float[Photos.Length * spec.ValuesPerImage];
        using (var preprocessor = new FramePreprocessor(spec))
            for (int i = 0; i < Photos.Length; i++)
            {
                using var photo = OpenCvSharp.Cv2.ImRead(Path.Combine(TestPaths.Coco128, "images", Photos[i]));
                preprocessor.Fill(photo, input.AsSpan(i * spec.ValuesPerImage, spec.ValuesPerImage));
            }
        int[] itemShape = [spec.Height, spec.Width, 3];
        using var ort = new MoeOrtEngine(file, new EngineRequest(), itemShape);
        using var ilgpu = MoeIlgpuEngine.Load(file, new EngineRequest(), itemShape, IlgpuTarget.CpuAccelerator);
        var expected = ort.Run(input, Photos.Length);
        var actual = ilgpu.Run(input, Photos.Length);

        var routes = actual.Routes!.Select(r => r.ExpertsPerBlock.Select(e => string.Join("+", e)).ToArray()).ToArray();
        log.WriteLine($"routes: {string.Join(" | ", routes.Select(r => string.Join(" ", r)))}; GFLOPs {string.Join(", ", actual.Routes!.Select(r => r.Gflops.ToString("F5")))}");
        log.WriteLine($"timings ms: {actual.Timings}; plan memory {ilgpu.PlanBytes / (1024.0 * 1024):F0} MB");
        Assert.Equal(expected.Routes!.Select(r => r.ExpertsPerBlock), actual.Routes!.Select(r => r.ExpertsPerBlock));
        Assert.Equal(expected.Routes!.Select(r => r.Gflops), actual.Routes!.Select(r => r.Gflops));
        Assert.True(routes[0].Zip(routes[1]).Count(p => p.First != p.Second) >= 2, "the two photos should route differently");

        var want = expected.Tensor("detections");
        var got = actual.Tensor("detections");
        Assert.Equal(want.Shape, got.Shape);
        log.WriteLine($"detections: max abs error {want.Data.Zip(got.Data, (a, b) => Math.Abs(a - b)).Max():E2} over all {want.Data.Length} values");
        int compared = 0;
        for (int row = 0; row < want.Data.Length / 6; row++)
        {
            var w = want.Data.AsSpan(row * 6, 6);
            var g = got.Data.AsSpan(row * 6, 6);
            if (w[4] < 0.05f) continue;
            compared++;
            for (int c = 0; c < 4; c++) Assert.True(Math.Abs(w[c] - g[c]) < 0.05f, $"row {row} coordinate {c}: {g[c]} vs {w[c]}");
            Assert.True(Math.Abs(w[4] - g[4]) < 1e-4f, $"row {row} score: {g[4]} vs {w[4]}");
            Assert.Equal(w[5], g[5]);
        }
        log.WriteLine($"{compared} detections with score ≥ 0.05 compared");
        Assert.True(compared >= 5, $"only {compared} scored detections to compare");
    }
}
