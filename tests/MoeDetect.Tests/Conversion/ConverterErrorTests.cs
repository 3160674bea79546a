using MoeDetect.Conversion;
using static MoeDetect.Tests.Conversion.SyntheticTfjsGraph;

namespace MoeDetect.Tests.Conversion;

/// <summary>Bad input gets one clear error that names the file, node or op at fault.</summary>
public class ConverterErrorTests
{
    [Fact]
    public void MissingModelJsonIsNamed()
    {
        var path = Path.Combine(Path.GetTempPath(), "no-such-model", "model.json");

        var e = Assert.Throws<ModelConversionException>(() => TfjsToOnnxConverter.Convert(path, null, Path.ChangeExtension(path, ".onnx")));

        Assert.Contains(path, e.Message);
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public void MalformedJsonIsNamed()
    {
        var path = ValidGraph().Write();
        File.WriteAllText(path, "{ \"modelTopology\": { \"node\": [ ");

        var e = Assert.Throws<ModelConversionException>(() => Convert(path));

        Assert.Contains(path, e.Message);
        Assert.Contains("not valid JSON", e.Message);
    }

    [Fact]
    public void MissingWeightShardIsNamed()
    {
        var path = ValidGraph().Write();
        var shard = Path.Combine(Path.GetDirectoryName(path)!, "model.bin");
        File.Delete(shard);

        var e = Assert.Throws<ModelConversionException>(() => Convert(path));

        Assert.Contains(shard, e.Message);
    }

    [Fact]
    public void TruncatedWeightShardIsReported()
    {
        var path = ValidGraph().Write();
        var shard = Path.Combine(Path.GetDirectoryName(path)!, "model.bin");
        File.WriteAllBytes(shard, File.ReadAllBytes(shard)[..3]);

        var e = Assert.Throws<ModelConversionException>(() => Convert(path));

        Assert.Contains("truncated", e.Message);
        Assert.Contains("'w'", e.Message);
    }

    [Fact]
    public void UnsupportedOpIsNamedWithItsNode()
    {
        var g = new SyntheticTfjsGraph().Input("in", [1, 4]);
        g.Node("block/cumulative", "Cumsum", ["in"]).Output("block/cumulative", [1, 4]);

        var e = Assert.Throws<ModelConversionException>(() => Convert(g.Write(), "block/cumulative"));

        Assert.Contains("Cumsum", e.Message);
        Assert.Contains("block/cumulative", e.Message);
    }

    [Fact]
    public void UnknownOutputIsNamed()
    {
        var e = Assert.Throws<ModelConversionException>(() => Convert(ValidGraph().Write(), "tower_0/nothing"));

        Assert.Contains("tower_0/nothing", e.Message);
    }

    [Fact]
    public void UnknownGraphWithoutOptionsAsksForThem()
    {
        var path = ValidGraph().Write();

        var e = Assert.Throws<ModelConversionException>(() => TfjsToOnnxConverter.Convert(path, null, Path.ChangeExtension(path, ".onnx")));

        Assert.Contains("not one of the known teachers", e.Message);
    }

    private static SyntheticTfjsGraph ValidGraph()
    {
        var g = new SyntheticTfjsGraph().Input("in", [1, 4]);
        g.Floats("w", [1, 2, 3, 4], 4);
        return g.Node("y", "Mul", ["in", "w"]).Output("y", [1, 4]);
    }

    private static void Convert(string modelJson, string output = "y") =>
        TfjsToOnnxConverter.Convert(modelJson, new TfjsConversionOptions { Outputs = [new(output, output)] }, Path.ChangeExtension(modelJson, ".onnx"));
}
