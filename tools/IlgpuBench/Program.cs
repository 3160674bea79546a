using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Ilgpu;
using MoeDetect.Model.Input;
using MoeDetect.Model.Loading;
using Onnx;

// ilgpu-bench <model.onnx> <frames-dir> <out-dir> [--cpu-accelerator] [--batches 1,8] [--iterations 20]
// ilgpu-bench kernels <model.onnx> <out-dir> [--cpu-accelerator] [--batches 1,32] [--iterations 20] [--tensor-cores-only]  (see KernelBench)
// ilgpu-bench profile <model.onnx|model.moedet> <out-dir> [--cpu-accelerator] [--batches 1,32] [--iterations 20] [--outputs a,b | --as-product]  (see ProfileBench)
// ilgpu-bench ptx <out-dir>   the tensor-core GEMM's PTX, for ptxas on a CUDA machine (see PtxDump)
// frames-dir holds raw BGR frames named <name>_<width>x<height>.bgr (e.g. made with ffmpeg -pix_fmt bgr24); a batch
// cycles through them. For each batch size it writes input_b<B>.bin (the network input the letterbox kernel made,
// float32) and <output>_b<B>.bin (the ILGPU engine's outputs) to out-dir, plus timings in ilgpu-bench.json.
if (args is ["ptx", var ptxDir])
{
    MoeDetect.Tools.IlgpuBench.PtxDump.Run(ptxDir);
    return;
}
bool kernelsMode = args.Length > 0 && args[0] is "kernels" or "profile";
var options = args.Skip(3).ToList();
var target = options.Contains("--cpu-accelerator") ? IlgpuTarget.CpuAccelerator : IlgpuTarget.Cuda;
int[] batches = Option("--batches", kernelsMode ? "1,32" : "1,8").Split(',').Select(int.Parse).ToArray();
int iterations = int.Parse(Option("--iterations", "20"));
if (kernelsMode)
{
    if (args[0] == "kernels") MoeDetect.Tools.IlgpuBench.KernelBench.Run(args[1], args[2], target, batches, iterations, options.Contains("--tensor-cores-only"));
    else MoeDetect.Tools.IlgpuBench.ProfileBench.Run(args[1], args[2], target, batches, iterations,
        options.Contains("--outputs") ? Option("--outputs", "").Split(',') : null, options.Contains("--as-product"));
    return;
}
string modelPath = args[0], framesDir = args[1], outDir = args[2];
Directory.CreateDirectory(outDir);

var model = File.ReadAllBytes(modelPath);
var frames = Directory.EnumerateFiles(framesDir, "*.bgr").Order().Select(ReadFrame).ToList();
var nv12Frames = frames.Select(ToNv12).ToList();
var spec = Spec(model);

var clock = Stopwatch.StartNew();
using var engine = IlgpuEngine.Load(model, modelPath, target);
var report = new Dictionary<string, object> { ["engine"] = engine.Name, ["load_ms"] = clock.Elapsed.TotalMilliseconds, ["frames"] = frames.Count };
var runs = new List<object>();
foreach (int batch in batches)
{
    try
    {
        var images = Enumerable.Range(0, batch).Select(i => frames[i % frames.Count]).ToList();
        var nv12Images = Enumerable.Range(0, batch).Select(i => nv12Frames[i % nv12Frames.Count]).ToList();
        var input = engine.Preprocess(images, spec, out _);
        var kernelsBefore = KernelLoader.Counts;
        clock.Restart();
        var output = engine.Run(input, batch);
        double firstMs = clock.Elapsed.TotalMilliseconds;
        var kernels = KernelLoader.Counts;
        File.WriteAllBytes(Path.Combine(outDir, $"input_b{batch}.bin"), MemoryMarshal.AsBytes(input.AsSpan()).ToArray());
        foreach (var t in output.Tensors)
            File.WriteAllBytes(Path.Combine(outDir, $"{t.Name}_b{batch}.bin"), MemoryMarshal.AsBytes(t.Data.AsSpan()).ToArray());
        var run = new Dictionary<string, object>
        {
            ["batch"] = batch, ["first_run_ms_incl_plan"] = firstMs,
            // Kernels the first run compiled and read from the compiled-kernel folder (those with specialised values uncounted).
            ["first_run_kernels_compiled"] = kernels.Compiled - kernelsBefore.Compiled, ["first_run_kernels_read"] = kernels.Read - kernelsBefore.Read,
            ["shapes"] = output.Tensors.ToDictionary(t => t.Name, t => t.Shape),
            ["ilgpu_ms_per_batch"] = Time(() => engine.Run(input, batch)),
            ["ilgpu_with_device_preprocess_ms_per_batch"] = Time(() => engine.RunImages(images, spec).Output),
            ["ilgpu_with_device_preprocess_nv12_ms_per_batch"] = Time(() => engine.RunImages(nv12Images, spec).Output),
        };
        // After the timed runs, so the plan has had the runs it needs to capture its CUDA graphs.
        run["plan"] = engine.Summary(batch).ToString();
        runs.Add(run);
        Console.WriteLine(JsonSerializer.Serialize(run));
    }
    catch (Exception e)
    {
        Console.WriteLine($"batch {batch} failed: {e}");
        runs.Add(new { batch, error = e.ToString() });
    }
}
report["runs"] = runs;
File.WriteAllText(Path.Combine(outDir, "ilgpu-bench.json"), JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));

string Option(string name, string fallback) => options.IndexOf(name) is var i and >= 0 ? options[i + 1] : fallback;

static BgrImage ReadFrame(string path)
{
    var size = Path.GetFileNameWithoutExtension(path).Split('_')[^1].Split('x').Select(int.Parse).ToArray();
    return BgrImage.Packed(File.ReadAllBytes(path), size[0], size[1]);
}

// The frame as a decoder would hand it over in NV12 (half the bytes), for timing the 4:2:0 input: BT.601 studio
// range in 8-bit integers, chroma from each 2×2 block's top-left pixel, an odd last column or row dropped. Made
// before the timing; its exact values do not matter to it.
static Yuv420Image ToNv12(BgrImage frame)
{
    int width = frame.Width & ~1, height = frame.Height & ~1;
    var bgr = frame.Pixels.Span;
    var nv12 = new byte[width * height * 3 / 2];
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
        {
            int at = y * frame.Stride + 3 * x, b = bgr[at], g = bgr[at + 1], r = bgr[at + 2];
            nv12[y * width + x] = (byte)(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16);
            if (x % 2 == 0 && y % 2 == 0)
            {
                int uv = width * height + y / 2 * width + x;
                nv12[uv] = (byte)(((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128);
                nv12[uv + 1] = (byte)(((112 * r - 94 * g - 18 * b + 128) >> 8) + 128);
            }
        }
    return Yuv420Image.Packed(nv12, width, height, Yuv420Layout.Nv12);
}

// The preprocessing the model's metadata states (MoeDetect-converted graphs), else Ultralytics' (YOLO exports), at
// its declared input size: what ModelLoader.DescribeInput gives, read from the graph itself because it asks ONNX
// Runtime, whose native library the published tool leaves out.
static InputSpec Spec(byte[] model)
{
    var proto = ModelProto.Parser.ParseFrom(model);
    var input = proto.Graph.Input.First();
    var d = input.Type.TensorType.Shape.Dim.Select(x => (int)x.DimValue).ToArray();
    bool nchw = d[1] == 3;
    int width = nchw ? d[3] : d[2], height = nchw ? d[2] : d[1];
    return proto.MetadataProps.FirstOrDefault(p => p.Key == OnnxDetectorDescription.PreprocessKey) is { } json
        ? InputSpec.FromJson(json.Value, input.Name, width, height)
        : InputSpec.Ultralytics(input.Name, width, height);
}

// Median wall-clock ms per call (each call ends with the engine's synchronisation and download) and the engine's
// split of the last call.
object Time(Func<EngineOutput> run)
{
    run();
    var samples = new List<double>();
    EngineTimings last = null!;
    for (int i = 0; i < iterations; i++)
    {
        var c = Stopwatch.StartNew();
        last = run().Timings;
        samples.Add(c.Elapsed.TotalMilliseconds);
    }
    samples.Sort();
    return new { median = samples[samples.Count / 2], min = samples[0], upload = last.UploadMs, inference = last.InferenceMs, download = last.DownloadMs };
}
