using System.Text.Json.Serialization;

namespace MoeDetect.Model.Engines.Auto;

/// <summary>One entry of this machine's engine choice file: both GPU engines timed by <c>moedetect bench --device
/// gpu</c> on one GPU, model file and batch. <see cref="Engine"/>, the faster one, is written for people reading the
/// file; the times decide. <paramref name="OrtLayout"/>: the convolution layout of ONNX Runtime's fastest product path,
/// whose time <paramref name="OrtMsPerFrame"/> is (<see cref="Cuda.ConvolutionLayouts"/>' names; none in files of
/// benches that timed one layout only).</summary>
public sealed record MeasuredEngineChoice(string Gpu, string Model, string ModelSha256, int Batch, double OrtMsPerFrame, double IlgpuMsPerFrame,
    string? OrtLayout = null)
{
    [JsonIgnore]
    public EngineTimes Times => new(OrtMsPerFrame, IlgpuMsPerFrame);

    public string Engine => Times.Faster;

    public bool IsFor(string gpu, string modelSha256, int batch) => Gpu == gpu && ModelSha256 == modelSha256 && Batch == batch;
}
