using MoeDetect.Cli.Commands;
using MoeDetect.Model.Engines;
using static MoeDetect.Tests.Support.ModelOptionsParse;

namespace MoeDetect.Tests.Cli;

/// <summary>--engine: ort, ilgpu or auto (the default), shared by detect, eval and bench.</summary>
public class EngineOptionTests
{
    [Theory]
    [InlineData(GpuEngines.Ort)]
    [InlineData(GpuEngines.Ilgpu)]
    [InlineData(GpuEngines.Auto)]
    public void Each_engine_is_accepted_and_reaches_the_request(string engine)
    {
        var (options, parse) = Parse("--device", "gpu", "--engine", engine);
        Assert.Empty(parse.Errors);
        Assert.Equal(engine, options.Request(parse, _ => { }).Engine);
    }

    [Fact]
    public void Auto_is_the_default()
    {
        var (options, parse) = Parse();
        Assert.Equal(GpuEngines.Auto, options.Request(parse, _ => { }).Engine);
    }

    [Fact]
    public void Another_engine_is_refused_naming_the_ones_there_are()
    {
        var (_, parse) = Parse("--engine", "tensorrt");
        Assert.Equal("--engine must be ort, ilgpu or auto, not 'tensorrt'", Assert.Single(parse.Errors).Message);
    }

    [Fact]
    public void The_help_says_how_auto_decides()
    {
        var description = new ModelOptions().Engine.Description!;
        Assert.Contains("auto", description);
        Assert.Contains("moedetect bench --device gpu", description);
        Assert.Contains("H100", description);
    }
}
