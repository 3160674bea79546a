using MoeDetect.Model.Engines.Cuda;
using static MoeDetect.Tests.Support.ModelOptionsParse;

namespace MoeDetect.Tests.Cli;

/// <summary>--cuda-layout and --cudnn-fuse-bias: parsed into the CUDA provider's prefer_nhwc and fuse_conv_bias, and
/// left out of its options when not asked for (the provider's defaults).</summary>
public class CudaConvolutionOptionTests
{
    [Fact]
    public void Nhwc_and_fused_bias_become_the_cuda_providers_options()
    {
        var (options, parse) = Parse("--device", "gpu", "--cuda-layout", "nhwc", "--cudnn-fuse-bias");
        Assert.Empty(parse.Errors);

        var cuda = options.Request(parse, _ => { }).Cuda!;

        Assert.Equal(ConvolutionLayout.Nhwc, cuda.Layout);
        Assert.Equal("1", cuda.ProviderOptions()["prefer_nhwc"]);
        Assert.Equal("1", cuda.ProviderOptions()["fuse_conv_bias"]);
    }

    [Fact]
    public void Without_the_options_the_provider_keeps_its_defaults()
    {
        var (options, parse) = Parse("--device", "gpu");

        var provider = options.Request(parse, _ => { }).Cuda!.ProviderOptions();

        Assert.False(provider.ContainsKey("prefer_nhwc"));
        Assert.False(provider.ContainsKey("fuse_conv_bias"));
    }

    [Fact]
    public void An_unknown_layout_is_refused()
    {
        var (_, parse) = Parse("--cuda-layout", "chwn");
        Assert.NotEmpty(parse.Errors);
    }
}
