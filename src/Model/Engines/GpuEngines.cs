namespace MoeDetect.Model.Engines;

/// <summary>The values of <c>--engine</c>: the two GPU engines, and <see cref="Auto"/>, which picks one of them for
/// the model and batch on a GPU (<see cref="Auto.GpuEngineChooser"/>). On the CPU every value runs ONNX Runtime.</summary>
public static class GpuEngines
{
    /// <summary>ONNX Runtime's CUDA execution provider.</summary>
    public const string Ort = "ort";
    /// <summary>The project's own ILGPU engine.</summary>
    public const string Ilgpu = "ilgpu";
    public const string Auto = "auto";

    public static readonly IReadOnlyList<string> All = [Ort, Ilgpu, Auto];
}
