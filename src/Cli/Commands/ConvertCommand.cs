using System.CommandLine;
using MoeDetect.Conversion;

namespace MoeDetect.Cli.Commands;

/// <summary><c>moedetect convert</c>: a TensorFlow.js graph model (model.json + weight shards) to an ONNX model
/// carrying the metadata the runtime reads (decoder, preprocessing, class names).</summary>
public static class ConvertCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("model-json") { Description = "The TensorFlow.js model.json (its .bin shards beside it)" };
        var output = new Argument<string>("output-onnx") { Description = "Where to write the ONNX model" };
        var preset = new Option<string?>("--preset") { Description = $"Conversion preset ({string.Join(", ", TeacherPresets.All.Select(p => p.Name))}); default: recognised from the graph" };
        var command = new Command("convert", "Convert a TensorFlow.js graph model (e.g. the CenterNet and NanoDet teachers) to ONNX");
        command.Arguments.Add(input);
        command.Arguments.Add(output);
        command.Options.Add(preset);
        command.SetAction(parse =>
        {
            var options = parse.GetValue(preset) is { } name ? TeacherPresets.ByName(name) : null;
            var result = TfjsToOnnxConverter.Convert(parse.GetValue(input)!, options, parse.GetValue(output)!);
            System.Console.WriteLine($"{result.OutputPath}: {result.Preset}, {result.TfjsNodes} TF.js nodes → {result.OnnxNodes} ONNX nodes, " +
                $"{result.Bytes / 1e6:0.0} MB, outputs {string.Join(", ", result.Outputs)}");
            return ExitCodes.Ok;
        });
        return command;
    }
}
