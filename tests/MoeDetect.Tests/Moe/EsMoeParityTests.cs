using System.Text.Json;
using OpenCvSharp;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Loading;
using MoeDetect.Tests.Support;

namespace MoeDetect.Tests.Moe;

/// <summary>CPU-path parity: the C# runtime runs the shipped ES-MoE model file on the exported test vectors (real
/// held-out images, run sparsely by the PyTorch training code) and must choose the same experts, report the same
/// executed GFLOPs and produce the same detections.</summary>
public class EsMoeParityTests
{
    private static readonly string ModelPath = Path.Combine(TestPaths.Models, "esmoe-centernet.moedet");
    private static readonly string VectorsPath = Path.Combine(TestPaths.Models, "esmoe-parity-vectors.json");

    [SkippableFact]
    public void Runtime_matches_the_training_framework_on_exported_vectors()
    {
        Skip.IfNot(File.Exists(ModelPath) && File.Exists(VectorsPath), "ES-MoE model or parity vectors not present");
        using var vectors = JsonDocument.Parse(File.ReadAllText(VectorsPath));
        using var model = ModelLoader.Load(ModelPath, new EngineRequest());
        var blockNames = vectors.RootElement.GetProperty("images")[0].GetProperty("expert_weights").EnumerateObject().Select(p => p.Name).ToList();

        foreach (var image in vectors.RootElement.GetProperty("images").EnumerateArray())
        {
            string name = image.GetProperty("name").GetString()!;
            var output = model.Engine.Run(RgbFloats(image.GetProperty("png_base64").GetString()!), 1);
            var route = Assert.Single(output.Routes!);

            var expectedExperts = blockNames.Select(b => image.GetProperty("expert_weights").GetProperty(b).EnumerateArray()
                .Select((w, i) => (w.GetDouble(), i)).Where(x => x.Item1 > 0).Select(x => x.i).ToArray()).ToList();
            Assert.Equal(expectedExperts, route.ExpertsPerBlock);
            Assert.Equal(image.GetProperty("executed_gflops").GetDouble(), route.Gflops, 3);

            var actual = output.Tensor("detections").Data;
            var expected = image.GetProperty("detections").EnumerateArray().Select(r => r.EnumerateArray().Select(v => (float)v.GetDouble()).ToArray()).ToList();
            int compared = 0;
            for (int r = 0; r < expected.Count && expected[r][4] >= 0.05f; r++, compared++)
            {
                for (int c = 0; c < 4; c++)
                    Assert.True(Math.Abs(actual[r * 6 + c] - expected[r][c]) < 0.05f, $"{name} row {r} coordinate {c}: {actual[r * 6 + c]} vs {expected[r][c]}");
                Assert.True(Math.Abs(actual[r * 6 + 4] - expected[r][4]) < 1e-3f, $"{name} row {r} score");
                Assert.Equal(expected[r][5], actual[r * 6 + 5]);
            }
            Assert.True(compared >= 5, $"{name}: only {compared} scored detections to compare");
        }
    }

    private static float[] RgbFloats(string pngBase64)
    {
        using var bgr = Cv2.ImDecode(Convert.FromBase64String(pngBase64), ImreadModes.Color);
        using var rgb = bgr.CvtColor(ColorConversionCodes.BGR2RGB);
        rgb.GetArray(out Vec3b[] pixels);
        return pixels.SelectMany(p => new float[] { p.Item0, p.Item1, p.Item2 }).ToArray();
    }
}
