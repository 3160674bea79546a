using MoeDetect.Pipeline.Sources;
using MoeDetect.Tests.Support;

namespace MoeDetect.Tests.Pipeline;

public class InputResolverTests
{
    private readonly string _folder = TestPaths.NewTempFolder();

    private string Touch(string relative)
    {
        string path = Path.Combine(_folder, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "x");
        return path;
    }

    [Fact]
    public void Folder_gives_each_video_and_one_sequence_of_its_images()
    {
        Touch("clips/b.mp4"); Touch("clips/a.avi"); Touch("clips/1.jpg"); Touch("clips/2.png"); Touch("clips/notes.txt");
        var specs = InputResolver.Resolve([Path.Combine(_folder, "clips")]);
        Assert.Equal([(SourceKind.VideoFile, "a"), (SourceKind.VideoFile, "b"), (SourceKind.ImageSequence, "clips")],
            specs.Select(s => (s.Kind, s.Name)));
        Assert.Equal(2, specs[2].ImageFiles!.Count);
    }

    [Fact]
    public void Glob_with_double_star_matches_nested_files_and_names_stay_unique()
    {
        Touch("g/x/cam.mp4"); Touch("g/y/cam.mp4"); Touch("g/y/other.mkv");
        var specs = InputResolver.Resolve([Path.Combine(_folder, "g", "**", "*.mp4")]);
        Assert.Equal(["cam", "cam_2"], specs.Select(s => s.Name));
    }

    [Fact]
    public void Urls_and_device_numbers_are_live_sources()
    {
        var specs = InputResolver.Resolve(["rtsp://user:pw@10.0.0.5:554/stream1", "http://cam.local/video.mjpg", "0"]);
        Assert.Equal([SourceKind.Stream, SourceKind.Stream, SourceKind.Device], specs.Select(s => s.Kind));
        Assert.All(specs, s => Assert.True(s.IsLive));
        Assert.Equal("10.0.0.5_stream1", specs[0].Name);
    }

    [Fact]
    public void Missing_inputs_and_empty_folders_are_named()
    {
        var missing = Path.Combine(_folder, "nope.mp4");
        Assert.Contains(missing, Assert.Throws<SourceException>(() => InputResolver.Resolve([missing])).Message);
        Directory.CreateDirectory(Path.Combine(_folder, "empty"));
        Assert.Contains("holds no videos or images", Assert.Throws<SourceException>(() => InputResolver.Resolve([Path.Combine(_folder, "empty")])).Message);
        Assert.Contains("no files match", Assert.Throws<SourceException>(() => InputResolver.Resolve([Path.Combine(_folder, "*.mov")])).Message);
    }
}
