using MoeDetect.Model.Detections;
using Xunit;

namespace MoeDetect.Tests.Support;

/// <summary>Two engines' (or two decoders') detections of one image: same count, order, classes, scores within 1e-4
/// and box corners within <c>pixels</c>.</summary>
public static class DetectionAssert
{
    /// <returns>How many detections agreed.</returns>
    public static int Same(IReadOnlyList<Detection> want, IReadOnlyList<Detection> got, float pixels)
    {
        Assert.Equal(want.Count, got.Count);
        for (int d = 0; d < want.Count; d++)
        {
            Assert.Equal(want[d].ClassId, got[d].ClassId);
            Assert.Equal(want[d].Score, got[d].Score, 1e-4f);
            Assert.Equal(want[d].Box.X1, got[d].Box.X1, pixels);
            Assert.Equal(want[d].Box.Y1, got[d].Box.Y1, pixels);
            Assert.Equal(want[d].Box.X2, got[d].Box.X2, pixels);
            Assert.Equal(want[d].Box.Y2, got[d].Box.Y2, pixels);
        }
        return want.Count;
    }
}
