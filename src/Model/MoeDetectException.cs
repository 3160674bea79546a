namespace MoeDetect.Model;

/// <summary>A problem the user can act on (bad model file, bad input, missing provider). Its message is one line
/// naming the problem and what to do; entry points print it without a stack trace.</summary>
public class MoeDetectException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The model file cannot be used: missing, not a model, or of an unsupported shape or version.</summary>
public sealed class InvalidModelException(string message, Exception? inner = null) : MoeDetectException(message, inner);
