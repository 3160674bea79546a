using MoeDetect.Model.Engines;
using static MoeDetect.Tests.Support.ModelOptionsParse;

namespace MoeDetect.Tests.Cli;

/// <summary>--gpu-mem-limit: parsed into ONNX Runtime's gpu_mem_limit (bytes), refused with a clear line when out of range,
/// ignored with a warning on the CPU.</summary>
public class GpuMemoryLimitOptionTests
{
    [Fact]
    public void A_limit_in_MB_becomes_the_cuda_providers_gpu_mem_limit_in_bytes()
    {
        var (options, parse) = Parse("--device", "gpu", "--gpu-mem-limit", "64");
        Assert.Empty(parse.Errors);
        var warnings = new List<string>();

        var cuda = options.Request(parse, warnings.Add).Cuda!;

        Assert.Equal(64, cuda.MemoryLimitMb);
        Assert.Equal("67108864", cuda.ProviderOptions()["gpu_mem_limit"]);
        Assert.Empty(warnings);
    }

    [Fact]
    public void Without_the_option_the_arena_is_not_capped()
    {
        var (options, parse) = Parse("--device", "gpu");
        Assert.False(options.Request(parse, _ => { }).Cuda!.ProviderOptions().ContainsKey("gpu_mem_limit"));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-64")]
    [InlineData("1048577")]
    [InlineData("99999999999")]
    public void Out_of_range_limits_are_refused_naming_the_range(string value)
    {
        var (_, parse) = Parse("--device", "gpu", "--gpu-mem-limit", value);
        var error = Assert.Single(parse.Errors);
        Assert.Equal("--gpu-mem-limit must be a whole number of MB from 1 to 1048576 (e.g. --gpu-mem-limit 4096)", error.Message);
    }

    [Fact]
    public void Non_numbers_are_refused()
    {
        var (_, parse) = Parse("--gpu-mem-limit", "lots");
        Assert.Contains(parse.Errors, e => e.Message.StartsWith("--gpu-mem-limit must be a whole number of MB from 1 to "));
    }

    [Fact]
    public void On_the_cpu_the_limit_is_ignored_with_a_warning()
    {
        var (options, parse) = Parse("--device", "cpu", "--gpu-mem-limit", "64");
        var warnings = new List<string>();

        var request = options.Request(parse, warnings.Add);

        Assert.Equal(ComputeDevice.Cpu, request.Device);
        Assert.Equal("warning: --gpu-mem-limit applies to the GPU only; ignored with --device cpu", Assert.Single(warnings));
    }
}
