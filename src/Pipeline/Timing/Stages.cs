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
    /// <summary>Inference less route and experts: the network's dense segments (and the waits between them), for routed
    /// engines.</summary>
    public const string RestOfNet = "rest_of_net";
    public const string Download = "download";
    public const string Postprocess = "postprocess";
    public const string Write = "write";
    public const string Publish = "publish";

    public static readonly IReadOnlyList<string> Order =
        [Decode, Preprocess, Upload, Inference, Route, Experts, RestOfNet, Download, Postprocess, Write, Publish];

    /// <summary>The stages that are parts of <see cref="Inference"/> (routed engines split it), not stages beside it.</summary>
    public static bool IsPartOfInference(string stage) => stage is Route or Experts or RestOfNet;
}
