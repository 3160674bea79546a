using MoeDetect.Tests.Support;

namespace MoeDetect.Tests.Cli;

/// <summary>Bad input through the real program: one clear line naming the problem, a non-zero exit code.</summary>
public class CliErrorTests
{
    private readonly string _folder = TestPaths.NewTempFolder();

    private static string OnlyErrorLine(CliProcess.Result r)
    {
        var lines = r.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return Assert.Single(lines, l => l.StartsWith("moedetect: error: "));
    }

    [Fact]
    public void Missing_input_file()
    {
        var missing = Path.Combine(_folder, "absent.mp4");
        var r = CliProcess.Run("detect", missing, "--out", Path.Combine(_folder, "o"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"input not found: {missing}", OnlyErrorLine(r));
    }

    [SkippableFact]
    public void Gpu_bench_of_the_ilgpu_engine_without_a_gpu_names_the_driver_not_onnx_runtimes_cuda_provider()
    {
        Skip.If(File.Exists("/dev/nvidiactl"), "this machine has an NVIDIA driver");
        var clip = TestVideos.Write(Path.Combine(_folder, "c.mp4"), 2);
        var r = CliProcess.Run("bench", "--device", "gpu", "--engine", "ilgpu", "--model", Path.Combine(TestPaths.Models, "centernet-mnv3.onnx"),
            "--batch", "1", "--frames", "1", "--source", clip, "--source-frames", "1");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("no NVIDIA GPU with a CUDA driver", r.StandardOutput.ReplaceLineEndings(" ").Replace("  ", " "));
        Assert.DoesNotContain("libonnxruntime_providers_cuda", r.StandardOutput + r.StandardError);
    }

    [Fact]
    public void Model_that_is_not_a_model()
    {
        var clip = TestVideos.Write(Path.Combine(_folder, "c.mp4"), 2);
        var fake = Path.Combine(_folder, "fake.onnx");
        File.WriteAllText(fake, "this is not a protobuf");
        var r = CliProcess.Run("detect", clip, "--model", fake, "--out", Path.Combine(_folder, "o"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("is not a valid ONNX model", OnlyErrorLine(r));
    }

    [Theory]
    [InlineData("--conf", "1.5", "--conf must be between 0 and 1")]
    [InlineData("--iou", "-0.1", "--iou must be between 0 and 1")]
    [InlineData("--stride", "0", "--stride must be at least 1")]
    [InlineData("--max-frames", "0", "--max-frames must be at least 1")]
    [InlineData("--device", "tpu", "tpu")]
    public void Bad_option_values_are_refused_before_any_work(string option, string value, string expected)
    {
        var r = CliProcess.Run("detect", "whatever.mp4", "--out", _folder, option, value);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains(expected, r.StandardError);
    }

    [Fact]
    public void Unknown_class_name_is_named()
    {
        var clip = TestVideos.Write(Path.Combine(_folder, "k.mp4"), 2);
        var r = CliProcess.Run("detect", clip, "--classes", "person,unicorn", "--out", Path.Combine(_folder, "o"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("'unicorn' is not a class of this model", OnlyErrorLine(r));
    }

    [Fact]
    public void Folder_run_with_a_bad_file_exits_with_the_partial_failure_code_and_names_it()
    {
        var inputs = Path.Combine(_folder, "in");
        Directory.CreateDirectory(inputs);
        TestVideos.Write(Path.Combine(inputs, "good.mp4"), 3);
        File.WriteAllBytes(Path.Combine(inputs, "broken.mp4"), new byte[777]);
        var r = CliProcess.Run("detect", inputs, "--out", Path.Combine(_folder, "o"), "--max-frames", "2");
        Assert.Equal(3, r.ExitCode);
        Assert.Contains("broken.mp4: failed: cannot open video", OnlyErrorLine(r));
        Assert.True(File.Exists(Path.Combine(_folder, "o", "good.jsonl")));
        Assert.True(File.Exists(Path.Combine(_folder, "o", "summary.json")));
    }

    [Fact]
    public void Help_documents_every_detect_option()
    {
        var r = CliProcess.Run("detect", "--help");
        Assert.Equal(0, r.ExitCode);
        foreach (var option in new[] { "--model", "--out", "--conf", "--iou", "--classes", "--stride", "--max-frames", "--imgsz", "--device", "--save-video", "--batch" })
            Assert.Contains(option, r.StandardOutput);
    }
}
