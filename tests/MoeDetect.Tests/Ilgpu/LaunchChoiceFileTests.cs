using MoeDetect.Kernels.Tensors;
using MoeDetect.Model.Ilgpu;
using Xunit;

namespace MoeDetect.Tests.Ilgpu;

/// <summary>The launch tuner's answers kept between processes (<see cref="LaunchChoiceFile"/>): a later tuner on the same
/// GPU and build plans from the file without timing; another GPU, another candidate set or a damaged file asks anew.</summary>
public sealed class LaunchChoiceFileTests : IDisposable
{
    private const string ThisGpu = "GPU A, build 1", OtherGpu = "GPU B, build 1";
    private static readonly WindowGeometry Layer = new()
    {
        Batch = 1, Channels = 40, Height = 12, Width = 12, OutChannels = 70, OutHeight = 12, OutWidth = 12,
        KernelHeight = 1, KernelWidth = 1, StrideY = 1, StrideX = 1, DilationY = 1, DilationX = 1, Groups = 1,
    };

    private readonly string _directory = Directory.CreateTempSubdirectory("moedetect-launches-").FullName;
    private readonly List<string> _warnings = [];
    private string FilePath => Path.Combine(_directory, "nested", "ilgpu-launches.json");

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private LaunchChoiceFile Open(string identity = ThisGpu) => LaunchChoiceFile.Open(FilePath, identity, _warnings.Add);

    /// <summary>Asks the file which of <paramref name="candidates"/> to take; the answer and whether it was timed.</summary>
    private static (string Chosen, bool Timed) Ask(LaunchChoiceFile file, string[] candidates, string fastest = "b", int layer = 0)
    {
        bool timed = false;
        var chosen = file.Choose("tile", Layer with { Height = 12 + layer }, candidates, _ => { timed = true; return fastest; });
        return (chosen, timed);
    }

    [Fact]
    public void A_later_process_on_the_same_gpu_and_build_takes_the_kept_answer_without_timing()
    {
        Assert.Equal(("b", true), Ask(Open(), ["a", "b", "c"]));
        Assert.Equal(("b", false), Ask(Open(), ["a", "b", "c"], fastest: "c"));
        Assert.Empty(_warnings);
    }

    [Fact]
    public void Another_gpu_another_layer_or_other_candidates_are_timed_anew()
    {
        Ask(Open(), ["a", "b", "c"]);

        Assert.Equal(("c", true), Ask(Open(OtherGpu), ["a", "b", "c"], fastest: "c"));
        // The other GPU's file replaced this one's answers.
        Assert.Equal(("a", true), Ask(Open(), ["a", "b", "c"], fastest: "a"));
        Assert.Equal(("c", true), Ask(Open(), ["a", "b", "c"], fastest: "c", layer: 1));
        Assert.Equal(("d", true), Ask(Open(), ["a", "b", "c", "d"], fastest: "d"));
        Assert.Equal(("a", false), Ask(Open(), ["a", "b", "c"], fastest: "c"));
    }

    [Fact]
    public void The_device_checks_outcome_is_kept_as_the_subset_that_passed()
    {
        int checks = 0;
        string[] Check(IReadOnlyList<string> kinds) { checks++; return kinds.Where(k => k != "tf32").ToArray(); }

        Assert.Equal(["fp16", "rows"], Open().ChooseSubset("check", ["tf32", "fp16", "rows"], Check));
        Assert.Equal(["fp16", "rows"], Open().ChooseSubset("check", ["tf32", "fp16", "rows"], Check));
        Assert.Equal(1, checks);
        Assert.Equal(["fp16"], Open().ChooseSubset("check", ["tf32", "fp16"], Check));
        Assert.Equal(2, checks);
    }

    [Fact]
    public void A_damaged_file_is_named_in_a_warning_and_written_anew()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(FilePath)!);
        File.WriteAllText(FilePath, "{ \"Identity\": ");

        Assert.Equal(("b", true), Ask(Open(), ["a", "b"]));
        Assert.Contains(_warnings, w => w.Contains(FilePath) && w.Contains("times its kernels"));
        Assert.Equal(("b", false), Ask(Open(), ["a", "b"], fastest: "a"));
    }

    [Fact]
    public void A_file_that_cannot_be_written_is_warned_about_once_and_costs_only_the_timing()
    {
        File.WriteAllText(Path.Combine(_directory, "nested"), "a file where the folder should be");
        var file = Open();

        Assert.Equal(("b", true), Ask(file, ["a", "b"]));
        Assert.Equal(("c", true), Ask(file, ["a", "b", "c"], fastest: "c"));
        Assert.Single(_warnings, w => w.Contains(LaunchChoiceFile.PathVariable));
    }

    [Fact]
    public void Engines_of_one_process_share_the_file_named_for_their_device()
    {
        using var layer = new GpuShapedLayer(Layer, seed: 99);
        var named = Environment.GetEnvironmentVariable(LaunchChoiceFile.PathVariable);
        try
        {
            Environment.SetEnvironmentVariable(LaunchChoiceFile.PathVariable, FilePath);
            var first = LaunchChoiceFile.ForDevice(layer.Accelerator, _warnings.Add)!;
            Assert.Same(first, LaunchChoiceFile.ForDevice(layer.Accelerator, _warnings.Add));
            Ask(first, ["a", "b"]);
            Assert.True(File.Exists(FilePath));

            Environment.SetEnvironmentVariable(LaunchChoiceFile.PathVariable, "0");
            Assert.Null(LaunchChoiceFile.ForDevice(layer.Accelerator, _warnings.Add));
        }
        finally
        {
            Environment.SetEnvironmentVariable(LaunchChoiceFile.PathVariable, named);
        }
    }

    [Fact]
    public void A_tuner_with_a_file_plans_a_later_engines_gemm_without_timing_it()
    {
        var geometry = ConvolutionPaths.Pointwise(Layer);
        PointwiseGeometry Plan(out int timed)
        {
            using var layer = new GpuShapedLayer(Layer, seed: 97);
            var tuner = new LaunchTuner(layer.Kernels, _ => { }, Open());
            layer.Kernels.Tuner = tuner;
            var plan = layer.Kernels.PlanPointwise(geometry);
            timed = tuner.Timed;
            return plan;
        }

        var first = Plan(out int timedFirst);
        var second = Plan(out int timedSecond);

        Assert.Equal((1, 0), (timedFirst, timedSecond));
        Assert.Equal((first.Tiling, first.Slices, first.TensorCores), (second.Tiling, second.Slices, second.TensorCores));
    }
}
