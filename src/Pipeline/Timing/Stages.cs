namespace MoeDetect.Pipeline.Timing;

/// <summary>The stage names every entry point reports (detect, serve, bench), in corridor order.</summary>
public static class Stages
{
    public const string Decode = "decode";
    public const string Preprocess = "preprocess";
    public const string Upload = "upload";
    public const string Inference = "inference";
    public const string Route = "route";
    public const string Experts = "experts";
    public const string Download = "download";
    public const string Postprocess = "postprocess";
    public const string Write = "write";
    public const string Publish = "publish";

    public static readonly IReadOnlyList<string> Order =
        [Decode, Preprocess, Upload, Inference, Route, Experts, Download, Postprocess, Write, Publish];
}
