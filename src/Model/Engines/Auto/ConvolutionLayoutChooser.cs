using MoeDetect.Model.Engines.Cuda;

namespace MoeDetect.Model.Engines.Auto;

/// <summary>How <c>--cuda-layout auto</c> decides: the layout of ONNX Runtime's fastest product path in this machine's
/// bench of the model file at this batch on this GPU, else NCHW, the graph's own (the fastest for the default model
/// and NanoDet-g on the project's H100, where NHWC made them 1.3–2.8× as slow; it made YOLOv8n 0.74–0.85× as long).</summary>
public static class ConvolutionLayoutChooser
{
    /// <returns>The layout, and why in words where a measurement chose it (null for the default).</returns>
    public static (ConvolutionLayout Layout, string? Reason) Choose(ModelFingerprint model, int batch, string gpu, IReadOnlyList<MeasuredEngineChoice> measured)
    {
        var own = measured.LastOrDefault(m => m.IsFor(gpu, model.Sha256, batch) && m.OrtLayout is not null);
        return own is not null && ConvolutionLayouts.Parse(own.OrtLayout) is { } layout
            ? (layout, $"fastest for {model.FileName} at batch {batch} in this machine's bench")
            : (ConvolutionLayout.Nchw, null);
    }
}
