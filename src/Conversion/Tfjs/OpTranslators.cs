namespace MoeDetect.Conversion.Tfjs;

/// <summary>Writes the ONNX nodes that compute one TF node's outputs and binds them in the scope.</summary>
internal delegate void OpTranslator(TfjsNode node, TranslationScope scope);

/// <summary>Every TF op the converter knows, by op type.</summary>
internal static class OpTranslators
{
    private static readonly Dictionary<string, OpTranslator> All =
        new[] { SpatialOps.Translators, ElementwiseOps.Translators, TensorOps.Translators }
            .SelectMany(d => d)
            .ToDictionary(p => p.Key, p => p.Value);

    public static IEnumerable<string> SupportedOps => All.Keys.Order();

    public static OpTranslator? For(string op) => All.GetValueOrDefault(op);
}
