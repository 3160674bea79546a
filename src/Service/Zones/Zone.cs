using MoeDetect.Model.Detections;
using MoeDetect.Service.Configuration;

namespace MoeDetect.Service.Zones;

/// <summary>A named polygon on one camera's picture. An object is inside when the bottom centre of its box — where
/// it stands on the ground — is inside the polygon (even-odd rule).</summary>
public sealed class Zone(ZoneOptions options)
{
    private readonly bool _relative = options.Points.All(p => p.X <= 1 && p.Y <= 1);

    public string Name => options.Name;

    public bool Reports(string label) => options.Labels is null || options.Labels.Contains(label);

    public bool Contains(BoxF box, int frameWidth, int frameHeight)
    {
        double x = (box.X1 + box.X2) / 2, y = box.Y2;
        if (_relative)
        {
            x /= frameWidth;
            y /= frameHeight;
        }
        bool inside = false;
        var points = options.Points;
        for (int i = 0, j = points.Count - 1; i < points.Count; j = i++)
        {
            var (a, b) = (points[i], points[j]);
            if ((a.Y > y) != (b.Y > y) && x < (b.X - a.X) * (y - a.Y) / (b.Y - a.Y) + a.X)
                inside = !inside;
        }
        return inside;
    }
}
