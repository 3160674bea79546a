using MoeDetect.Model;

namespace MoeDetect.Pipeline.Sources;

/// <summary>An input cannot be read: missing, corrupt, empty or unreachable. The message names the input.</summary>
public sealed class SourceException(string message, Exception? inner = null) : MoeDetectException(message, inner);
