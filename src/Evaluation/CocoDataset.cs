namespace MoeDetect.Evaluation;

public sealed record CocoImage(int Id, string FileName, int Width, int Height);

public sealed record CocoCategory(int Id, string Name);

/// <summary>One ground-truth object. <paramref name="Area"/> is the file's <c>area</c> field (not recomputed
/// from the box), because the COCO area ranges are defined on it.</summary>
public sealed record CocoAnnotation(int Id, int ImageId, int CategoryId, CocoBox Bbox, double Area, bool IsCrowd);

/// <summary>The ground truth of a COCO "instances" file: images, categories and box annotations.
/// Consistency (unique ids, annotations pointing at known images and categories) is checked on construction.</summary>
public sealed class CocoDataset
{
    public IReadOnlyList<CocoImage> Images { get; }
    public IReadOnlyList<CocoCategory> Categories { get; }
    public IReadOnlyList<CocoAnnotation> Annotations { get; }

    public CocoDataset(IReadOnlyList<CocoImage> images, IReadOnlyList<CocoCategory> categories,
        IReadOnlyList<CocoAnnotation> annotations)
    {
        RequireUniqueIds(images.Select(i => i.Id), "image");
        RequireUniqueIds(categories.Select(c => c.Id), "category");
        var imageIds = images.Select(i => i.Id).ToHashSet();
        var categoryIds = categories.Select(c => c.Id).ToHashSet();
        for (int i = 0; i < annotations.Count; i++)
        {
            var a = annotations[i];
            if (!imageIds.Contains(a.ImageId))
                throw new ArgumentException($"annotations[{i}] refers to image_id {a.ImageId}, which is not listed in images");
            if (!categoryIds.Contains(a.CategoryId))
                throw new ArgumentException($"annotations[{i}] refers to category_id {a.CategoryId}, which is not listed in categories");
        }
        Images = images;
        Categories = categories;
        Annotations = annotations;
    }

    /// <summary>Reads a COCO "instances" json file; throws <see cref="InvalidCocoFileException"/> naming the file
    /// and the problem when it is missing, not json, or lacks what evaluation needs.</summary>
    public static CocoDataset Load(string annotationsJsonPath) => CocoAnnotationFile.Read(annotationsJsonPath);

    private static void RequireUniqueIds(IEnumerable<int> ids, string kind)
    {
        var seen = new HashSet<int>();
        foreach (int id in ids)
            if (!seen.Add(id))
                throw new ArgumentException($"{kind} id {id} appears more than once");
    }
}

/// <summary>An annotations file that cannot be evaluated against; the message names the file and the problem.</summary>
public sealed class InvalidCocoFileException(string message, Exception? inner = null) : Exception(message, inner);
