using System.Diagnostics;
using MoeDetect.Model;
using MoeDetect.Model.Decoding;
using MoeDetect.Model.Engines;
using MoeDetect.Model.Engines.Cuda;
using MoeDetect.Model.Input;
using MoeDetect.Model.Loading;
using MoeDetect.Pipeline.Inference;
using MoeDetect.Pipeline.Timing;

namespace MoeDetect.Pipeline.Benchmarking;

/// <summary>One variant at one batch size: frames per second over the whole loop and the mean milliseconds per
/// frame of each stage; or why it could not run. <paramref name="BaselineFor"/>: on the raw ONNX Runtime row, the
/// product variant it is the yardstick for.</summary>
/// <param name="Efficiency">Achieved TFLOP/s of inference and its fraction of the GPU's peaks, where the engine counts its
/// arithmetic.</param>
/// <param name="Detections">Boxes the decoder kept, summed over the distinct frames the run decoded (each frame counted
/// once): equal between engines that compute the same model on the same frames, a check that a faster variant still
/// gives the same answers. Null for the raw baseline, which decodes nothing.</param>
/// <param name="StageMedianMs">The median milliseconds per frame of each stage, beside <paramref name="StageMs"/>'s means:
/// a few slow batches (a garbage collection, the operating system) move the mean of a few hundred, not their median.
/// Null for the raw baseline.</param>
public sealed record BenchResult(string Variant, string Engine, int Batch, int Frames, double FramesPerSecond,
    IReadOnlyDictionary<string, double> StageMs, string? Error = null, string? BaselineFor = null, long? Detections = null,
    BenchEfficiency? Efficiency = null, IReadOnlyDictionary<string, double>? StageMedianMs = null)
{
    /// <summary>End to end, over the whole loop.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public double MsPerFrame => 1000 / FramesPerSecond;
}

/// <summary>Times engine variants × batch sizes on frames held in memory, in one process: load (with its warm-up,
/// untimed), untimed batches (<see cref="WarmUpBatches"/>, <see cref="WarmUpTime"/>), then <c>frames</c> frames in whole
/// batches, as a stream in its steady state. Preprocess starts from the
/// letterboxed canvas: float engines normalise on the CPU, pixel engines take the canvas as it is. The raw baseline
/// variant times ONNX Runtime alone (<see cref="RawOrtTiming"/>). <paramref name="peak"/>: the GPU's peaks, for the
/// efficiency (null on the CPU or a GPU not in the table).</summary>
public sealed class BenchRunner(string modelPath, BenchFrames frames, DecodeOptions decode, int frameCount, GpuPeak? peak = null)
{
    /// <summary>Untimed batches before the timed ones: at least this many, and for at least <see cref="WarmUpTime"/>.
    /// The host's per-frame code (preprocessing, decoding, NMS) starts as quickly-jitted code and is recompiled
    /// optimised only after some thirty calls and a pause; with two untimed batches a GPU run of 96 frames timed
    /// mostly the unoptimised decoder (NanoDet-g's postprocessing on the CPU: 0.52 ms a frame after 2 untimed batches,
    /// 0.38 ms once warm), which a long-running product does not pay.</summary>
    private const int WarmUpBatches = 2;
    private static readonly TimeSpan WarmUpTime = TimeSpan.FromSeconds(0.5);

    public IEnumerable<BenchResult> Run(IEnumerable<BenchVariant> variants, IReadOnlyList<int> batches)
    {
        foreach (var variant in variants)
            foreach (int batch in batches)
                yield return RunOne(variant, batch);
    }

    public BenchResult RunOne(BenchVariant variant, int batch)
    {
        if (variant.IsRawBaseline)
            return RawOrtTiming.Run(modelPath, frames, variant, batch, frameCount);
        DetectorModel model;
        try
        {
            model = ModelLoader.Load(modelPath, variant.Request with { Batch = batch });
        }
        catch (MoeDetectException e)
        {
            return new BenchResult(variant.Name, "", batch, 0, 0, new Dictionary<string, double>(), e.Message);
        }
        using (model)
        {
            frames.CheckFits(model.Input, "the frames");
            try
            {
                return Time(model, variant, batch);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // One engine failing mid-run (a driver error, say) is that row's result; the other variants still run.
                return new BenchResult(variant.Name, model.Engine.Name, batch, 0, 0, new Dictionary<string, double>(),
                    $"{e.GetType().Name}: {e.Message.Split('\n', 2)[0].Trim()}");
            }
        }
    }

    private BenchResult Time(DetectorModel model, BenchVariant variant, int batch)
    {
        var statistics = new StageStatistics();
        var loop = new BatchLoop(model, frames, decode, batch);
        var untimed = new StageStatistics();
        var warming = Stopwatch.StartNew();
        for (int i = 0; i < WarmUpBatches || warming.Elapsed < WarmUpTime; i++) loop.Next(untimed);
        loop.Arithmetic = new BenchEfficiency.Tally();
        int batchesToRun = Math.Max(1, (frameCount + batch - 1) / batch);
        // Pipelined engines enter the timed loop with a warm-up batch still running and leave it with one: each timed
        // step starts a batch and decodes the one before, one cycle of a stream in its steady state. Filling and
        // draining the pipeline is once per stream, not per batch (timed, it would add a whole batch's host work to
        // the three batches of 96 frames at batch 32).
        var wall = Stopwatch.StartNew();
        for (int i = 0; i < batchesToRun; i++) loop.Next(statistics);
        double seconds = wall.Elapsed.TotalSeconds;
        loop.Finish(untimed);
        var stages = statistics.Summarise();
        return new BenchResult(variant.Name, model.Engine.Name, batch, batchesToRun * batch, batchesToRun * batch / seconds,
            stages.ToDictionary(s => s.Stage, s => s.MeanMs), Detections: loop.Detections, Efficiency: loop.Arithmetic.Result(peak),
            StageMedianMs: stages.ToDictionary(s => s.Stage, s => s.P50Ms));
    }

    /// <summary>Cycles through the frames batch after batch, timing each stage into the given statistics, as
    /// <see cref="FrameDetector"/> runs them: on two-slot pixel engines a batch is written while the previous one runs,
    /// which is decoded while this one runs (<see cref="PixelPipeline{TBatch}"/>).</summary>
    private sealed class BatchLoop(DetectorModel model, BenchFrames frames, DecodeOptions decode, int batch)
    {
        private readonly float[] _floats = model.Engine is IPixelInputEngine ? [] : new float[batch * model.Input.ValuesPerImage];
        private readonly PixelPipeline<int[]>? _pipeline = PixelPipeline.Supports(model.Engine) ? new((IPixelInputEngine)model.Engine) : null;
        /// <summary>Per frame, the boxes of its last decoding; -1 until decoded.</summary>
        private readonly int[] _boxes = Enumerable.Repeat(-1, frames.Count).ToArray();
        private int _next;

        public long Detections => _boxes.Where(n => n >= 0).Sum(n => (long)n);

        /// <summary>Where the timed batches' arithmetic and inference time add up (set once the untimed ones ran).</summary>
        public BenchEfficiency.Tally Arithmetic { get; set; } = new();

        public void Next(StageStatistics statistics)
        {
            var indices = Enumerable.Range(0, batch).Select(_ => _next++ % frames.Count).ToArray();
            int perImage = model.Input.ValuesPerImage;
            var clock = Stopwatch.StartNew();
            var pixelEngine = model.Engine as IPixelInputEngine;
            var pipeline = _pipeline;
            FrameParallel.ForEach(batch, i =>
            {
                var canvas = frames.Canvases[indices[i]];
                if (pixelEngine is null) PixelTensor.Write(model.Input, canvas, _floats.AsSpan(i * perImage, perImage));
                else canvas.CopyTo((pipeline is null ? pixelEngine.PixelStaging : pipeline.Slot).Slice(i * perImage, perImage));
            });
            statistics.AddShared(Stages.Preprocess, clock.Elapsed.TotalMilliseconds, batch);

            if (pipeline is null)
            {
                Decode(indices, pixelEngine?.RunPixels(batch) ?? model.Engine.Run(_floats, batch), statistics);
                return;
            }
            if (pipeline.Start(indices, batch) is { } previous) Decode(previous.Batch, previous.Output, statistics);
        }

        /// <summary>Decodes the batch still running, once it is done.</summary>
        public void Finish(StageStatistics statistics)
        {
            if (_pipeline?.Wait() is { } running) Decode(running.Batch, running.Output, statistics);
        }

        private void Decode(int[] indices, EngineOutput output, StageStatistics statistics)
        {
            EngineStageTimes.Add(statistics, output, batch);
            Arithmetic.Add(output.Timings);
            var clock = Stopwatch.StartNew();
            FrameParallel.ForEach(batch, i => _boxes[indices[i]] = model.Decoder.Decode(output, i, frames.Letterbox(indices[i], model.Input), decode).Count);
            statistics.AddShared(Stages.Postprocess, clock.Elapsed.TotalMilliseconds, batch);
        }
    }
}
