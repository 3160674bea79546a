using System.Diagnostics;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Ilgpu;
using MoeDetect.Model.Input;

// ilgpu-bench <model.onnx> <frames-dir> <out-dir> [--cpu-accelerator] [--batches 1,8] [--iterations 20]
// frames-dir holds raw BGR frames named <name>_<width>x<height>.bgr (e.g. made with ffmpeg -pix_fmt bgr24).
// Both engines get the same network input: the ILGPU letterbox kernel's output (bit-exact with the OpenCV path).
var options = args.Skip(3).ToList();
string modelPath = args[0], framesDir = args[1], outDir = args[2];
var target = options.Contains("--cpu-accelerator") ? IlgpuTarget.CpuAccelerator : IlgpuTarget.Cuda;
int[] batches = Option("--batches", "1,8").Split(',').Select(int.Parse).ToArray();
int iterations = int.Parse(Option("--iterations", "20"));
Directory.CreateDirectory(outDir);

var model = ReadModel(modelPath);
var frames = Directory.EnumerateFiles(framesDir, "*.bgr").Order().Select(ReadFrame).ToList();
using var ort = new InferenceSession(model, new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL });
var spec = InputSpec.FromJson(ort.ModelMetadata.CustomMetadataMap["moedetect.preprocess"], ort.InputMetadata.Keys.Single(),
    ort.InputMetadata.Values.Single().Dimensions is var d && d[1] == 3 ? d[3] : d[2], d[1] == 3 ? d[2] : d[1]);
var outputNames = ort.OutputMetadata.Keys.ToList();
using var ortEngine = new OrtEngine(ort, "onnxruntime-cpu", outputNames);

var clock = Stopwatch.StartNew();
using var engine = IlgpuEngine.Load(model, modelPath, target);
var report = new Dictionary<string, object> { ["engine"] = engine.Name, ["load_ms"] = clock.Elapsed.TotalMilliseconds, ["frames"] = frames.Count };
var runs = new List<object>();
foreach (int batch in batches)
{
  try
  {
    var images = Enumerable.Range(0, batch).Select(i => frames[i % frames.Count]).ToList();
    var input = engine.Preprocess(images, spec, out _);
    var expected = ortEngine.Run(input, batch);
    clock.Restart();
    var actual = engine.Run(input, batch);
    double firstMs = clock.Elapsed.TotalMilliseconds;
    var parity = outputNames.ToDictionary(n => n, n => MaxAbs(expected.Tensor(n).Data, actual.Tensor(n).Data));
    var ilgpu = Time(() => engine.Run(input, batch));
    var ilgpuImages = Time(() => engine.RunImages(images, spec).Output);
    var ortCpu = Time(() => ortEngine.Run(input, batch), Math.Max(1, iterations / 4));
    var run = new Dictionary<string, object>
    {
        ["batch"] = batch, ["first_run_ms_incl_plan"] = firstMs, ["max_abs_error"] = parity,
        ["ilgpu_ms_per_batch"] = ilgpu, ["ilgpu_with_device_preprocess_ms_per_batch"] = ilgpuImages, ["ort_cpu_ms_per_batch"] = ortCpu,
        ["detections_agree"] = DetectionsAgree(expected, actual),
    };
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
Console.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));

static byte[] ReadModel(string path)
{
    if (!path.EndsWith(".gz")) return File.ReadAllBytes(path);
    using var gzip = new System.IO.Compression.GZipStream(File.OpenRead(path), System.IO.Compression.CompressionMode.Decompress);
    using var memory = new MemoryStream();
    gzip.CopyTo(memory);
    return memory.ToArray();
}

string Option(string name, string fallback) => options.IndexOf(name) is var i and >= 0 ? options[i + 1] : fallback;

static BgrImage ReadFrame(string path)
{
    var size = Path.GetFileNameWithoutExtension(path).Split('_')[^1].Split('x').Select(int.Parse).ToArray();
    return BgrImage.Packed(File.ReadAllBytes(path), size[0], size[1]);
}

static float MaxAbs(float[] a, float[] b) => a.Length != b.Length ? float.NaN : a.Zip(b, (x, y) => Math.Abs(x - y)).DefaultIfEmpty(0).Max();

// Median wall-clock ms per call (each call ends with the engine's own synchronisation and download) and the
// engine's split of the last call.
object Time(Func<EngineOutput> run, int? count = null)
{
    run();
    var samples = new List<double>();
    EngineTimings last = null!;
    for (int i = 0; i < (count ?? iterations); i++)
    {
        var c = Stopwatch.StartNew();
        last = run().Timings;
        samples.Add(c.Elapsed.TotalMilliseconds);
    }
    samples.Sort();
    return new { median = samples[samples.Count / 2], min = samples[0], upload = last.UploadMs, inference = last.InferenceMs, download = last.DownloadMs };
}

// Same kept boxes (score ≥ 0.3): class equal and coordinates within 0.5 px, row by row of the "detections" output.
static object? DetectionsAgree(EngineOutput expected, EngineOutput actual)
{
    var e = expected.Tensors.FirstOrDefault(t => t.Name == "detections");
    if (e is null) return null;
    var a = actual.Tensor("detections");
    int rows = e.Data.Length / 6, kept = 0, agree = 0;
    for (int r = 0; r < rows; r++)
    {
        if (e.Data[r * 6 + 4] < 0.3f) continue;
        kept++;
        bool same = e.Data[r * 6 + 5] == a.Data[r * 6 + 5] && Enumerable.Range(0, 4).All(k => Math.Abs(e.Data[r * 6 + k] - a.Data[r * 6 + k]) <= 0.5f);
        if (same) agree++;
    }
    return new { kept, agree };
}
