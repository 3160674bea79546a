using MoeDetect.Model.Input;
using MoeDetect.Pipeline.Inference;
using OpenCvSharp;

namespace MoeDetect.Tests.Support;

/// <summary>The first coco128 images in name order, letterboxed for a model into 8-bit BGR canvases (what the
/// engines' preprocessing starts from), with each image's own size.</summary>
public static class CocoImages
{
    public static (byte[][] Canvases, (int Width, int Height)[] Sources) Canvases(InputSpec spec, int count)
    {
        using var preprocessor = new FramePreprocessor(spec);
        var files = Directory.GetFiles(Path.Combine(TestPaths.Coco128, "images"), "*.jpg").Order().Take(count).ToArray();
        var canvases = new byte[files.Length][];
        var sources = new (int, int)[files.Length];
        for (int i = 0; i < files.Length; i++)
        {
            using var image = Cv2.ImRead(files[i]);
            canvases[i] = new byte[preprocessor.BytesPerCanvas];
            preprocessor.FillPixels(image, canvases[i]);
            sources[i] = (image.Width, image.Height);
        }
        return (canvases, sources);
    }
}
