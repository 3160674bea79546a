namespace MoeDetect.Conversion;

/// <summary>A model file that cannot be converted: the message names the file, node or op at fault and what to do.</summary>
public sealed class ModelConversionException(string message, Exception? inner = null) : Exception(message, inner);
