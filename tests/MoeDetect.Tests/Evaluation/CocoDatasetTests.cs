using MoeDetect.Evaluation;

namespace MoeDetect.Tests.Evaluation;

public class CocoDatasetTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("moedetect-coco-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Write(string json)
    {
        string path = Path.Combine(_folder, $"{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }

    private const string Categories = """[{"id": 1, "name": "person"}, {"id": 3, "name": "car"}]""";

    [Fact]
    public void LoadsImagesCategoriesAndAnnotations()
    {
        string path = Write($$"""
            {"images": [{"id": 7, "file_name": "a.jpg", "width": 640, "height": 480}],
             "categories": {{Categories}},
             "annotations": [
               {"id": 11, "image_id": 7, "category_id": 3, "bbox": [1.5, 2, 30, 40.25], "area": 1207.5, "iscrowd": 0},
               {"id": 12, "image_id": 7, "category_id": 1, "bbox": [0, 0, 300, 200], "area": 50000, "iscrowd": 1}]}
            """);

        var dataset = CocoDataset.Load(path);

        Assert.Equal(new CocoImage(7, "a.jpg", 640, 480), dataset.Images.Single());
        Assert.Equal([new CocoCategory(1, "person"), new CocoCategory(3, "car")], dataset.Categories);
        Assert.Equal(new CocoAnnotation(11, 7, 3, new CocoBox(1.5, 2, 30, 40.25), 1207.5, false), dataset.Annotations[0]);
        Assert.True(dataset.Annotations[1].IsCrowd);
        Assert.Equal(50000, dataset.Annotations[1].Area); // the file's area, not the box's 60000
    }

    [Fact]
    public void MissingFileNamesThePath()
    {
        string path = Path.Combine(_folder, "absent.json");

        var error = Assert.Throws<InvalidCocoFileException>(() => CocoDataset.Load(path));

        Assert.Contains(path, error.Message);
        Assert.Contains("does not exist", error.Message);
    }

    [Theory]
    [InlineData("{\"images\": [", "not valid json")]
    [InlineData("[]", "top level")]
    [InlineData("{\"images\": [], \"categories\": []}", "'annotations' is missing")]
    [InlineData("{\"images\": [{\"id\": 1}], \"categories\": CATS, \"annotations\": [{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 5], \"area\": 1}]}",
        "annotations[0].bbox must be an array of 4 numbers")]
    [InlineData("{\"images\": [{\"id\": 1}], \"categories\": CATS, \"annotations\": [{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 5, 5]}]}",
        "annotations[0] has no 'area'")]
    [InlineData("{\"images\": [{\"id\": \"x\"}], \"categories\": CATS, \"annotations\": []}", "images[0].id must be a whole number")]
    [InlineData("{\"images\": [{\"id\": 1}], \"categories\": CATS, \"annotations\": [{\"image_id\": 2, \"category_id\": 1, \"bbox\": [0, 0, 5, 5], \"area\": 25}]}",
        "annotations[0] refers to image_id 2")]
    [InlineData("{\"images\": [{\"id\": 1}, {\"id\": 1}], \"categories\": CATS, \"annotations\": []}", "image id 1 appears more than once")]
    public void MalformedFileGetsOneClearError(string json, string expected)
    {
        string path = Write(json.Replace("CATS", Categories));

        var error = Assert.Throws<InvalidCocoFileException>(() => CocoDataset.Load(path));

        Assert.Contains(path, error.Message);
        Assert.Contains(expected, error.Message);
    }
}
