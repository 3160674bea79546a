namespace MoeDetect.Evaluation;

/// <summary>COCO bbox evaluation, reproducing pycocotools' COCOeval (iouType "bbox") step for step: per image and
/// category greedy matching at IoU 0.50:0.05:0.95, pooled ranking per category, 101-point interpolated precision,
/// the four area ranges, and means over the categories that have ground truth.</summary>
public static class CocoEvaluator
{
    /// <param name="maxDetections">Per image and category, as in pycocotools (its maxDets[2]); the best-scored
    /// detections are kept. AR@1 and AR@10 use 1 and 10.</param>
    /// <param name="imageIds">Evaluate only these images (for example the ones that were processed);
    /// null means every image of <paramref name="truth"/>. Detections on other images are ignored.</param>
    public static CocoEvaluationReport Evaluate(CocoDataset truth, IReadOnlyList<CocoDetection> detections,
        int maxDetections = CocoProtocol.DefaultMaxDetections, IReadOnlyCollection<int>? imageIds = null)
    {
        if (maxDetections < 10)
            throw new ArgumentOutOfRangeException(nameof(maxDetections), maxDetections,
                "maxDetections must be at least 10 (COCO also reports recall at 1 and 10 detections)");
        var images = SelectImages(truth, imageIds);
        var evaluated = FilterDetections(truth, detections, images);

        var sortedImages = images.Order().ToArray();
        var categories = truth.Categories.OrderBy(c => c.Id).ToArray();
        var (curves, countedTruths) = AccumulateCurves(truth, evaluated, sortedImages, categories, maxDetections);
        return Summarize(curves, countedTruths, categories, sortedImages.Length, evaluated.Count, maxDetections);
    }

    // Indices into the curve grid: area ranges as in CocoProtocol.AreaRanges, detection limits 1, 10, maxDetections.
    private const int All = 0, Small = 1, Medium = 2, Large = 3, AtMost1 = 0, AtMost10 = 1, AtMostMax = 2;

    /// <summary>Matches every (image, category) pair in every area range, then pools the images per category into
    /// curves[category, area range, detection limit]; also returns each category's counted (non-crowd) truths.</summary>
    private static (PrecisionRecallCurves?[,,] Curves, int[] CountedTruths) AccumulateCurves(CocoDataset truth,
        List<CocoDetection> detections, int[] sortedImages, CocoCategory[] categories, int maxDetections)
    {
        int[] detectionLimits = [1, 10, maxDetections];
        var evaluatedImages = sortedImages.ToHashSet();
        var truthsByPair = truth.Annotations.Where(a => evaluatedImages.Contains(a.ImageId)).ToLookup(a => (a.ImageId, a.CategoryId));
        var detectionsByPair = detections.ToLookup(d => (d.ImageId, d.CategoryId));

        // Only pairs with a truth or a detection take part (pycocotools skips the empty ones), images in ascending id.
        var imagesByCategory = truthsByPair.Select(g => g.Key).Concat(detectionsByPair.Select(g => g.Key))
            .Distinct()
            .ToLookup(pair => pair.CategoryId, pair => pair.ImageId);

        var curves = new PrecisionRecallCurves?[categories.Length, CocoProtocol.AreaRanges.Count, detectionLimits.Length];
        var countedTruths = new int[categories.Length];
        for (int k = 0; k < categories.Length; k++)
        {
            var matchesPerArea = CocoProtocol.AreaRanges.Select(_ => new List<ImageCategoryMatch>()).ToArray();
            foreach (int imageId in imagesByCategory[categories[k].Id].Order())
            {
                var pair = (imageId, categories[k].Id);
                var candidates = new ImageCategoryCandidates(truthsByPair[pair].ToArray(), detectionsByPair[pair], maxDetections);
                for (int a = 0; a < CocoProtocol.AreaRanges.Count; a++)
                    matchesPerArea[a].Add(GreedyMatching.Match(candidates, CocoProtocol.AreaRanges[a]));
            }
            countedTruths[k] = matchesPerArea[All].Sum(m => m.CountedTruths);
            var ranking = PrecisionRecallCurves.Rank(matchesPerArea[All]);
            for (int a = 0; a < CocoProtocol.AreaRanges.Count; a++)
                for (int m = 0; m < detectionLimits.Length; m++)
                    curves[k, a, m] = PrecisionRecallCurves.Accumulate(matchesPerArea[a], ranking, detectionLimits[m]);
        }
        return (curves, countedTruths);
    }

    private static CocoEvaluationReport Summarize(PrecisionRecallCurves?[,,] curves, int[] countedTruths, CocoCategory[] categories,
        int imageCount, int detectionCount, int maxDetections)
    {
        var summary = new CurveSummary(curves);
        int iou50 = IndexOfThreshold(0.5), iou75 = IndexOfThreshold(0.75);
        var perClass = new List<CocoClassResult>();
        for (int k = 0; k < categories.Length; k++)
        {
            if (curves[k, All, AtMostMax] is null) continue;
            perClass.Add(new CocoClassResult(categories[k].Id, categories[k].Name,
                summary.Precision(All, AtMostMax, category: k), summary.Precision(All, AtMostMax, iou50, k), countedTruths[k]));
        }
        return new CocoEvaluationReport(
            Map50_95: summary.Precision(All, AtMostMax),
            Map50: summary.Precision(All, AtMostMax, iou50),
            Map75: summary.Precision(All, AtMostMax, iou75),
            MapSmall: summary.Precision(Small, AtMostMax),
            MapMedium: summary.Precision(Medium, AtMostMax),
            MapLarge: summary.Precision(Large, AtMostMax),
            Mar1: summary.Recall(All, AtMost1),
            Mar10: summary.Recall(All, AtMost10),
            Mar100: summary.Recall(All, AtMostMax),
            MarSmall: summary.Recall(Small, AtMostMax),
            MarMedium: summary.Recall(Medium, AtMostMax),
            MarLarge: summary.Recall(Large, AtMostMax),
            PerClass: perClass,
            Images: imageCount,
            Detections: detectionCount,
            MaxDetections: maxDetections);
    }

    private static HashSet<int> SelectImages(CocoDataset truth, IReadOnlyCollection<int>? imageIds)
    {
        var known = truth.Images.Select(i => i.Id).ToHashSet();
        if (imageIds is null) return known;
        foreach (int id in imageIds)
            if (!known.Contains(id))
                throw new ArgumentException($"image id {id} is not in the annotations; evaluate only images listed there", nameof(imageIds));
        return imageIds.ToHashSet();
    }

    /// <summary>Keeps the detections on evaluated images; rejects ones that could only come from a bug upstream.</summary>
    private static List<CocoDetection> FilterDetections(CocoDataset truth, IReadOnlyList<CocoDetection> detections, HashSet<int> images)
    {
        var categoryIds = truth.Categories.Select(c => c.Id).ToHashSet();
        var kept = new List<CocoDetection>(detections.Count);
        for (int i = 0; i < detections.Count; i++)
        {
            var d = detections[i];
            if (!images.Contains(d.ImageId)) continue;
            if (!categoryIds.Contains(d.CategoryId))
                throw new ArgumentException($"detection {i} has category id {d.CategoryId}, which the annotations do not define; " +
                    "map model classes with CategoryMap.ByName and leave out the unmapped ones", nameof(detections));
            if (!double.IsFinite(d.Score) || !double.IsFinite(d.X) || !double.IsFinite(d.Y) ||
                !double.IsFinite(d.Width) || !double.IsFinite(d.Height) || d.Width < 0 || d.Height < 0)
                throw new ArgumentException($"detection {i} is not a valid box with a score: {d}", nameof(detections));
            kept.Add(d);
        }
        return kept;
    }

    private static int IndexOfThreshold(double threshold)
    {
        for (int t = 0; t < CocoProtocol.IouThresholds.Count; t++)
            if (CocoProtocol.IouThresholds[t] == threshold) return t;
        throw new InvalidOperationException($"IoU threshold {threshold} is not one of the COCO thresholds");
    }
}
