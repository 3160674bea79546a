using MoeDetect.Model.Detections;
using MoeDetect.Model.Input;

namespace MoeDetect.Tests.Model;

public class LetterboxTransformTests
{
    [Fact]
    public void Landscape_frame_is_scaled_to_width_and_centred_vertically()
    {
        var t = LetterboxTransform.Create(768, 576, 512, 512);
        Assert.Equal(512f / 768, t.Scale, 6);
        Assert.Equal((512, 384), (t.ResizedWidth, t.ResizedHeight));
        Assert.Equal((0, 64), (t.OffsetX, t.OffsetY));
    }

    [Fact]
    public void Portrait_frame_is_centred_horizontally_with_integer_division_of_the_padding()
    {
        var t = LetterboxTransform.Create(333, 500, 512, 512);
        Assert.Equal(341, t.ResizedWidth);  // round(333 · 1.024) = 341
        Assert.Equal(512, t.ResizedHeight);
        Assert.Equal(85, t.OffsetX);        // (512 − 341) div 2
        Assert.Equal(0, t.OffsetY);
    }

    [Fact]
    public void Top_left_letterbox_has_no_offset()
    {
        var t = LetterboxTransform.Create(1280, 720, 640, 640, centered: false);
        Assert.Equal((0, 0), (t.OffsetX, t.OffsetY));
        Assert.Equal(360, t.ResizedHeight);
    }

    [Fact]
    public void Boxes_map_to_the_input_and_back_exactly()
    {
        var t = LetterboxTransform.Create(1280, 720, 640, 640);
        var source = new BoxF(100, 50, 400, 700);
        var back = t.ToSource(t.ToInput(source));
        Assert.Equal(source.X1, back.X1, 3);
        Assert.Equal(source.Y1, back.Y1, 3);
        Assert.Equal(source.X2, back.X2, 3);
        Assert.Equal(source.Y2, back.Y2, 3);
    }

    [Fact]
    public void Boxes_reaching_into_the_padding_are_clipped_to_the_source_image()
    {
        var t = LetterboxTransform.Create(768, 576, 512, 512);
        var mapped = t.ToSource(new BoxF(-10, 0, 600, 512));   // padding bands are y < 64 and y ≥ 448
        Assert.Equal(new BoxF(0, 0, 768, 576), mapped);
    }

    [Fact]
    public void Empty_source_is_rejected()
    {
        Assert.Throws<ArgumentException>(() => LetterboxTransform.Create(0, 10, 512, 512));
    }
}
