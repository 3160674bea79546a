namespace MoeDetect.Evaluation;

/// <summary>A model class the annotations have no category for; its detections cannot be scored.</summary>
public sealed record UnmappedClass(int ClassIndex, string Name);

/// <summary>Model class index → COCO category id, matched by name (case-insensitive, surrounding spaces ignored),
/// because COCO ids have gaps (1–90 for 80 classes) and models number their classes 0…n-1.</summary>
public sealed class CategoryMap
{
    private readonly Dictionary<int, int> _categoryIdByClass;

    /// <summary>Model classes whose name matches no category; report them rather than dropping their detections silently.</summary>
    public IReadOnlyList<UnmappedClass> Unmapped { get; }

    public int MappedCount => _categoryIdByClass.Count;

    private CategoryMap(Dictionary<int, int> categoryIdByClass, IReadOnlyList<UnmappedClass> unmapped)
    {
        _categoryIdByClass = categoryIdByClass;
        Unmapped = unmapped;
    }

    public static CategoryMap ByName(CocoDataset dataset, IReadOnlyList<string> modelClassNames)
    {
        var idByName = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        foreach (var category in dataset.Categories)
            if (!idByName.TryAdd(category.Name.Trim(), category.Id))
                throw new ArgumentException(
                    $"the annotations name two categories '{category.Name.Trim()}' (ids {idByName[category.Name.Trim()]} and {category.Id}); " +
                    "classes cannot be mapped by name unambiguously", nameof(dataset));

        var mapped = new Dictionary<int, int>();
        var unmapped = new List<UnmappedClass>();
        for (int i = 0; i < modelClassNames.Count; i++)
        {
            string name = modelClassNames[i]?.Trim() ?? "";
            if (idByName.TryGetValue(name, out int id)) mapped[i] = id;
            else unmapped.Add(new UnmappedClass(i, name));
        }
        return new CategoryMap(mapped, unmapped);
    }

    public bool TryGetCategoryId(int classIndex, out int categoryId) => _categoryIdByClass.TryGetValue(classIndex, out categoryId);
}
