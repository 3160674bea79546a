using Microsoft.ML.OnnxRuntime;
using MoeDetect.Conversion;
using MoeDetect.Model.Loading;
using MoeDetect.Tests.Support;

namespace MoeDetect.Tests.Conversion;

/// <summary>The metadata_props a conversion writes, read back the way the runtime reads them.</summary>
public class ConversionMetadataTests
{
    [Fact]
    public void CustomOptionsBecomeMetadataTheRuntimeParses()
    {
        var namesFile = Path.Combine(TestPaths.NewTempFolder(), "names.txt");
        File.WriteAllText(namesFile, "person\n\ndriver's seat\nback\\slash\n");
        var modelJson = Graph().Write();
        var onnxPath = Path.ChangeExtension(modelJson, ".onnx");
        var options = new TfjsConversionOptions
        {
            Outputs = [new("y", "scores")],
            Decoder = "centernet",
            ClassNames = NamesMetadata.FromFile(namesFile),
            Preprocess = new("NCHW", "BGR", [1, 2, 3], [4, 5, 6], [114, 114, 114], "center"),
            Metadata = new Dictionary<string, string> { ["moedetect.strides"] = "[4]" },
            Source = "unit test graph",
        };

        TfjsToOnnxConverter.Convert(modelJson, options, onnxPath);

        using var session = new InferenceSession(onnxPath);
        var meta = session.ModelMetadata.CustomMetadataMap;
        Assert.Equal(@"{0: 'person', 1: 'driver\'s seat', 2: 'back\\slash'}", meta["names"]);
        Assert.Equal(["person", "driver's seat", @"back\slash"], ClassNames.Parse(meta["names"]));
        Assert.Equal("centernet", meta["moedetect.decoder"]);
        Assert.Equal("[8, 6]", meta["imgsz"]); // NCHW input [1, 3, 8, 6]: height, width
        Assert.Equal("""{"layout":"NCHW","order":"BGR","mean":[1,2,3],"std":[4,5,6],"pad":[114,114,114],"letterbox":"center","resize":"opencv-bilinear"}""",
            meta["moedetect.preprocess"]);
        Assert.Equal("[4]", meta["moedetect.strides"]);
        Assert.Equal("unit test graph", meta["moedetect.source"]);
        Assert.Equal(["images"], session.InputMetadata.Keys);
        Assert.Equal(["scores"], session.OutputMetadata.Keys);
    }

    [Fact]
    public void WithoutDetectorOptionsOnlyNamesAndSourceAreWritten()
    {
        var modelJson = Graph().Write();
        var onnxPath = Path.ChangeExtension(modelJson, ".onnx");

        TfjsToOnnxConverter.Convert(modelJson, new TfjsConversionOptions { Outputs = [new("y", "y")] }, onnxPath);

        using var session = new InferenceSession(onnxPath);
        var meta = session.ModelMetadata.CustomMetadataMap;
        Assert.Equal(["moedetect.source", "names"], meta.Keys.Order());
        Assert.Equal("model.json, origin MoeDetect.Tests", meta["moedetect.source"]);
        Assert.Equal(NamesMetadata.Coco80, ClassNames.Parse(meta["names"]));
    }

    [Fact]
    public void MissingNamesFileIsNamed()
    {
        var path = Path.Combine(TestPaths.NewTempFolder(), "absent.names");

        var e = Assert.Throws<ModelConversionException>(() => NamesMetadata.FromFile(path));

        Assert.Contains(path, e.Message);
    }

    private static SyntheticTfjsGraph Graph()
    {
        var g = new SyntheticTfjsGraph().Input("in", [1, 3, 8, 6]);
        return g.Node("y", "Sigmoid", ["in"]).Output("y", [1, 3, 8, 6]);
    }
}
