using MoeDetect.Evaluation;

namespace MoeDetect.Tests.Evaluation;

/// <summary>Builds small in-memory ground truths for hand-computed evaluation cases.</summary>
internal sealed class GroundTruthBuilder
{
    public const int Cat = 1, Dog = 2, Bird = 3;

    private readonly List<CocoImage> _images = [];
    private readonly List<CocoAnnotation> _annotations = [];

    public GroundTruthBuilder Image(int id)
    {
        _images.Add(new CocoImage(id, $"{id}.jpg", 640, 480));
        return this;
    }

    /// <param name="area">The file's area field; defaults to the box area, as in the shared coco128 file.</param>
    public GroundTruthBuilder Box(int imageId, int categoryId, double x, double y, double w, double h,
        bool crowd = false, double? area = null)
    {
        _annotations.Add(new CocoAnnotation(_annotations.Count + 1, imageId, categoryId,
            new CocoBox(x, y, w, h), area ?? w * h, crowd));
        return this;
    }

    public CocoDataset Build() =>
        new(_images, [new CocoCategory(Cat, "cat"), new CocoCategory(Dog, "dog"), new CocoCategory(Bird, "bird")], _annotations);

    public static CocoDetection Detection(int imageId, int categoryId, double x, double y, double w, double h, double score) =>
        new(imageId, categoryId, x, y, w, h, score);
}
