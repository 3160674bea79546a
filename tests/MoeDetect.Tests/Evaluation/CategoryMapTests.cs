using MoeDetect.Evaluation;

namespace MoeDetect.Tests.Evaluation;

public class CategoryMapTests
{
    private static readonly CocoDataset Truth = new(
        [new CocoImage(1, "1.jpg", 10, 10)],
        [new CocoCategory(1, "person"), new CocoCategory(3, "car"), new CocoCategory(90, "toothbrush")],
        []);

    [Fact]
    public void MapsModelClassesByNameIgnoringCaseAndSpaces()
    {
        var map = CategoryMap.ByName(Truth, ["Person", " toothbrush ", "unicorn", "CAR"]);

        Assert.True(map.TryGetCategoryId(0, out int person));
        Assert.True(map.TryGetCategoryId(1, out int toothbrush));
        Assert.True(map.TryGetCategoryId(3, out int car));
        Assert.Equal((1, 90, 3), (person, toothbrush, car));
        Assert.False(map.TryGetCategoryId(2, out _));
        Assert.Equal([new UnmappedClass(2, "unicorn")], map.Unmapped);
        Assert.Equal(3, map.MappedCount);
    }

    [Fact]
    public void AmbiguousCategoryNamesAreRejected()
    {
        var truth = new CocoDataset([], [new CocoCategory(1, "car"), new CocoCategory(2, "Car ")], []);

        var error = Assert.Throws<ArgumentException>(() => CategoryMap.ByName(truth, ["car"]));

        Assert.Contains("'car'", error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("ids 1 and 2", error.Message);
    }
}
