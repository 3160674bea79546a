using MoeDetect.Model.Loading;

namespace MoeDetect.Tests.Model;

public class ClassNamesTests
{
    [Fact]
    public void Ultralytics_dict_literal_is_read_in_id_order()
    {
        var names = ClassNames.Parse("{0: 'person', 2: 'car', 1: 'bicycle', 3: \"traffic light\"}");
        Assert.Equal(["person", "bicycle", "car", "traffic light"], names);
    }

    [Fact]
    public void Json_array_is_read()
    {
        Assert.Equal(["a", "b"], ClassNames.Parse("[\"a\", \"b\"]"));
    }

    [Fact]
    public void Missing_or_unparseable_names_give_null()
    {
        Assert.Null(ClassNames.Parse(null));
        Assert.Null(ClassNames.Parse("no names here"));
    }
}
