using System.Text;
using MoeDetect.Model;
using MoeDetect.Model.Input;
using MoeDetect.Pipeline.Frames;
using MoeDetect.Pipeline.Inference;

namespace MoeDetect.Pipeline.Benchmarking;

/// <summary>Frames for the benchmark, held in memory as letterboxed 8-bit BGR canvases of the model's input size
/// (what an engine's preprocessing starts from), with each frame's source size for mapping boxes back. Decoded
/// and letterboxed once, with OpenCV; saved as a raw file so that machines without OpenCV (or a video decoder)
/// can run the same frames.</summary>
public sealed class BenchFrames
{
    // File layout: "MDFRAMES", then int32 version, count, width, height; per frame int32 source width and height
    // followed by width·height·3 bytes of BGR canvas. Little-endian.
    private static readonly byte[] Magic = "MDFRAMES"u8.ToArray();
    private const int Version = 1;

    public BenchFrames(int width, int height, IReadOnlyList<(int Width, int Height)> sourceSizes, IReadOnlyList<byte[]> canvases)
    {
        if (sourceSizes.Count == 0 || sourceSizes.Count != canvases.Count)
            throw new ArgumentException("benchmark frames need at least one canvas, each with its source size");
        if (canvases.Any(c => c.Length != 3 * width * height))
            throw new ArgumentException($"every canvas must hold {width}x{height}x3 bytes");
        (Width, Height, SourceSizes, Canvases) = (width, height, sourceSizes, canvases);
    }

    public int Width { get; }
    public int Height { get; }
    public IReadOnlyList<(int Width, int Height)> SourceSizes { get; }
    public IReadOnlyList<byte[]> Canvases { get; }
    public int Count => Canvases.Count;

    public LetterboxTransform Letterbox(int index, InputSpec spec) =>
        LetterboxTransform.Create(SourceSizes[index].Width, SourceSizes[index].Height, Width, Height, spec.CenteredLetterbox);

    /// <summary>The model must take canvases of exactly this size; say how to fix it otherwise.</summary>
    public void CheckFits(InputSpec spec, string origin)
    {
        if (spec.Width != Width || spec.Height != Height)
            throw new MoeDetectException($"{origin} holds {Width}x{Height} canvases but the model takes {spec.Width}x{spec.Height}: " +
                "save frames again with this model (bench --save-frames)");
    }

    public static BenchFrames Letterbox(IEnumerable<Frame> frames, InputSpec spec)
    {
        using var preprocessor = new FramePreprocessor(spec);
        var sizes = new List<(int, int)>();
        var canvases = new List<byte[]>();
        foreach (var frame in frames)
        {
            var canvas = new byte[preprocessor.BytesPerCanvas];
            preprocessor.FillPixels(frame.Image, canvas);
            sizes.Add((frame.Width, frame.Height));
            canvases.Add(canvas);
        }
        if (canvases.Count == 0) throw new MoeDetectException("no frames could be decoded for the benchmark");
        return new BenchFrames(spec.Width, spec.Height, sizes, canvases);
    }

    public void Save(string path)
    {
        using var writer = new BinaryWriter(File.Create(path));
        writer.Write(Magic);
        foreach (int v in new[] { Version, Count, Width, Height }) writer.Write(v);
        for (int i = 0; i < Count; i++)
        {
            writer.Write(SourceSizes[i].Width);
            writer.Write(SourceSizes[i].Height);
            writer.Write(Canvases[i]);
        }
    }

    public static BenchFrames Load(string path)
    {
        if (!File.Exists(path)) throw new MoeDetectException($"frames file not found: {path} (write one with bench --save-frames)");
        using var reader = new BinaryReader(File.OpenRead(path));
        string Fail(string what) => throw new MoeDetectException($"{path} is not a MoeDetect frames file ({what}); write one with bench --save-frames");
        if (!reader.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic)) Fail("no MDFRAMES header");
        try
        {
            int version = reader.ReadInt32(), count = reader.ReadInt32(), width = reader.ReadInt32(), height = reader.ReadInt32();
            if (version != Version) Fail($"version {version}, this program reads {Version}");
            if (count < 1 || width < 1 || height < 1 || (long)width * height > 1 << 26) Fail($"{count} frames of {width}x{height}");
            var sizes = new List<(int, int)>();
            var canvases = new List<byte[]>();
            for (int i = 0; i < count; i++)
            {
                sizes.Add((reader.ReadInt32(), reader.ReadInt32()));
                var canvas = reader.ReadBytes(3 * width * height);
                if (canvas.Length != 3 * width * height) Fail($"frame {i} is cut short");
                canvases.Add(canvas);
            }
            return new BenchFrames(width, height, sizes, canvases);
        }
        catch (EndOfStreamException)
        {
            Fail("cut short");
            throw;
        }
    }
}
