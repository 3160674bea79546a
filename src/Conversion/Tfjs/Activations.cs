using MoeDetect.Conversion.Onnx;

namespace MoeDetect.Conversion.Tfjs;

/// <summary>Activation functions, shared by standalone TF activation ops and the ones fused into convolutions.</summary>
internal static class Activations
{
    public static readonly string[] Names = ["Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh", "LeakyRelu", "Prelu"];

    /// <param name="alpha">LeakyRelu's slope.</param>
    /// <param name="preluSlope">Prelu's slope tensor (ONNX value).</param>
    public static string Apply(string activation, TfjsNode node, TranslationScope s, string x, float alpha, string? preluSlope)
    {
        var g = s.Onnx;
        return activation switch
        {
            "Relu" or "Elu" or "Selu" or "Sigmoid" or "Tanh" => g.Node(activation, [x], node.Name),
            // Clip's bounds are inputs since opset 11.
            "Relu6" => g.Node("Clip", [x, g.Floats($"{node.Name}/zero", [0f], []), g.Floats($"{node.Name}/six", [6f], [])], node.Name),
            "LeakyRelu" => g.Node("LeakyRelu", [x], node.Name, Attr.Float("alpha", alpha)),
            "Prelu" => g.Node("PRelu", [x, preluSlope ?? throw new ModelConversionException($"{node}: Prelu needs a slope input.")], node.Name),
            _ => throw new ModelConversionException($"{node}: activation '{activation}' is not supported; supported: {string.Join(", ", Names)}."),
        };
    }
}
