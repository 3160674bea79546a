namespace MoeDetect.Model.Engines.Auto;

/// <summary>Both GPU engines' product paths timed on one model and batch: end-to-end milliseconds per frame, from the
/// 8-bit canvases in host memory to decoded detections (<c>moedetect bench</c>'s 1000 / FPS).</summary>
public readonly record struct EngineTimes(double OrtMsPerFrame, double IlgpuMsPerFrame)
{
    public string Faster => IlgpuMsPerFrame < OrtMsPerFrame ? GpuEngines.Ilgpu : GpuEngines.Ort;

    /// <summary>The faster engine's time first, e.g. "2.958 vs 6.414 ms/frame".</summary>
    public override string ToString()
    {
        var (faster, slower) = Faster == GpuEngines.Ilgpu ? (IlgpuMsPerFrame, OrtMsPerFrame) : (OrtMsPerFrame, IlgpuMsPerFrame);
        return $"{faster:0.000} vs {slower:0.000} ms/frame";
    }
}
