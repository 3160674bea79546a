using MoeDetect.Evaluation;

namespace MoeDetect.Tests.Evaluation;

/// <summary>A deterministic, deliberately awkward evaluation input built from the real coco128 ground truth:
/// crowd regions, declared areas unlike the boxes, many equal scores, duplicates, random false positives
/// (some of categories without ground truth) and one image with 150 detections of one category.</summary>
internal sealed record StressScene(CocoDataset Truth, IReadOnlyList<CocoDetection> Detections, IReadOnlyList<int> ImageSubset)
{
    public static StressScene Build(CocoDataset source, int seed)
    {
        var random = new Random(seed);
        var annotations = source.Annotations.Select((a, i) => a with
        {
            IsCrowd = i % 7 == 3,
            Area = i % 5 == 1 ? a.Area * (0.05 + random.NextDouble() * 3) : a.Area,
        }).ToList();
        double CoarseScore() => Math.Round(random.NextDouble() * 10) / 10;

        var detections = new List<CocoDetection>();
        foreach (var a in annotations)
        {
            for (int copy = random.Next(0, 4) - 1; copy >= 0; copy--)
            {
                double jitter = copy == 0 ? 0.1 : 0.3;
                double Shift(double size) => (random.NextDouble() * 2 - 1) * jitter * size;
                double x1 = a.Bbox.X + Shift(a.Bbox.Width), y1 = a.Bbox.Y + Shift(a.Bbox.Height);
                double x2 = a.Bbox.X + a.Bbox.Width + Shift(a.Bbox.Width), y2 = a.Bbox.Y + a.Bbox.Height + Shift(a.Bbox.Height);
                detections.Add(new CocoDetection(a.ImageId, a.CategoryId, x1, y1, Math.Max(0, x2 - x1), Math.Max(0, y2 - y1), CoarseScore()));
            }
        }
        var categoriesWithTruth = annotations.Select(a => a.CategoryId).Distinct().ToArray();
        foreach (var image in source.Images)
            for (int n = random.Next(0, 15); n > 0; n--)
                detections.Add(new CocoDetection(image.Id,
                    random.Next(3) == 0 ? source.Categories[random.Next(source.Categories.Count)].Id : categoriesWithTruth[random.Next(categoriesWithTruth.Length)],
                    random.NextDouble() * 500, random.NextDouble() * 400, 2 + random.NextDouble() * 200, 2 + random.NextDouble() * 200, CoarseScore()));
        var crowded = annotations.First(a => !a.IsCrowd);
        for (int i = 0; i < 150; i++)
            detections.Add(new CocoDetection(crowded.ImageId, crowded.CategoryId, crowded.Bbox.X + random.Next(-20, 20),
                crowded.Bbox.Y + random.Next(-20, 20), crowded.Bbox.Width, crowded.Bbox.Height, CoarseScore()));

        var shuffled = detections.OrderBy(_ => random.Next()).ToList();
        var subset = source.Images.Select(i => i.Id).Where(_ => random.Next(2) == 0).ToArray();
        return new StressScene(new CocoDataset(source.Images, source.Categories, annotations), shuffled, subset);
    }
}
