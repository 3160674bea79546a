using MoeDetect.Model.Engines.Cuda;
using static MoeDetect.Tests.Support.ModelOptionsParse;

namespace MoeDetect.Tests.Cli;

/// <summary>--cuda-layout: parsed into the CUDA provider's prefer_nhwc and fuse_conv_bias, auto by default (resolved
/// at load), and refused with a clear line when unknown.</summary>
public class CudaConvolutionOptionTests
{
    [Theory]
    [InlineData("nchw", ConvolutionLayout.Nchw, null, null)]
    [InlineData("nhwc", ConvolutionLayout.Nhwc, "1", null)]
    [InlineData("NHWC-fused-bias", ConvolutionLayout.NhwcFusedBias, "1", "1")]
    public void A_named_layout_becomes_the_cuda_providers_options(string value, ConvolutionLayout layout, string? preferNhwc, string? fuseBias)
    {
        var (options, parse) = Parse("--device", "gpu", "--cuda-layout", value);
        Assert.Empty(parse.Errors);

        var cuda = options.Request(parse, _ => { }).Cuda!;

        Assert.Equal(layout, cuda.Layout);
        var provider = cuda.ProviderOptions();
        Assert.Equal(preferNhwc, provider.GetValueOrDefault("prefer_nhwc"));
        Assert.Equal(fuseBias, provider.GetValueOrDefault("fuse_conv_bias"));
    }

    [Fact]
    public void Without_the_option_the_layout_is_left_to_auto_and_the_provider_keeps_its_defaults()
    {
        var (options, parse) = Parse("--device", "gpu");

        var cuda = options.Request(parse, _ => { }).Cuda!;

        Assert.Equal(ConvolutionLayout.Auto, cuda.Layout);
        Assert.False(cuda.ProviderOptions().ContainsKey("prefer_nhwc"));
    }

    [Fact]
    public void Queued_runs_give_the_provider_the_engines_stream_and_name_the_engine()
    {
        var (options, parse) = Parse("--device", "gpu", "--cuda-runs", "queued");
        Assert.Empty(parse.Errors);

        var cuda = options.Request(parse, _ => { }).Cuda!;

        Assert.True(cuda.QueuesRuns);
        Assert.Equal("ort-cuda-iobinding-graph-queued", cuda.EngineName);
        Assert.False(cuda.ProviderOptions().ContainsKey("user_compute_stream"));
        var provider = cuda.ProviderOptions(computeStream: unchecked((nint)0x7f0012345600));
        Assert.Equal(("1", "139638282147328"), (provider["has_user_compute_stream"], provider["user_compute_stream"]));
        // Host tensors have no bound buffers to queue copies between; without CUDA graphs runs wait for the GPU.
        Assert.Equal("ort-cuda-host", (cuda with { DeviceBinding = false }).EngineName);
        Assert.Equal((false, "ort-cuda-iobinding"), ((cuda with { CudaGraphs = false }).QueuesRuns, (cuda with { CudaGraphs = false }).EngineName));
    }

    [Fact]
    public void Runs_are_queued_unless_synced_runs_are_asked_for_and_an_unknown_mode_is_refused()
    {
        var (options, parse) = Parse("--device", "gpu");
        Assert.True(options.Request(parse, _ => { }).Cuda!.QueuesRuns);
        var (synced, parsed) = Parse("--device", "gpu", "--cuda-runs", "synced");
        var cuda = synced.Request(parsed, _ => { }).Cuda!;
        Assert.Equal((false, "ort-cuda-iobinding-graph"), (cuda.QueuesRuns, cuda.EngineName));

        var (_, wrong) = Parse("--cuda-runs", "eager");
        Assert.Equal("--cuda-runs must be synced or queued, not 'eager'", Assert.Single(wrong.Errors).Message);
    }

    [Fact]
    public void An_unknown_layout_is_refused_naming_the_choices()
    {
        var (_, parse) = Parse("--cuda-layout", "chwn");

        Assert.Equal("--cuda-layout must be auto, nchw, nhwc or nhwc-fused-bias, not 'chwn'", Assert.Single(parse.Errors).Message);
    }
}
