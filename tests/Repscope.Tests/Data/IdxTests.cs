using Repscope.Data;

namespace Repscope.Tests.Data;

public class IdxTests
{
    private static readonly byte[] Pixels = Enumerable.Range(0, 3 * 2 * 4).Select(i => (byte)(i * 10)).ToArray();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadsImagesAndLabelsPlainOrGzipped(bool gzip)
    {
        using var dir = new TempDir();
        DataFiles.WriteFile(dir.File("img"), DataFiles.IdxBytes(8, [3, 2, 4], Pixels), gzip);
        DataFiles.WriteFile(dir.File("lab"), DataFiles.IdxBytes(8, [3], [7, 0, 9]), gzip);
        var raw = Idx.Read(dir.File("img"), dir.File("lab"), 10);
        Assert.Equal(3, raw.Count);
        Assert.Equal((1, 2, 4), (raw.Channels, raw.Height, raw.Width));
        Assert.Equal(Pixels, raw.Pixels);
        Assert.Equal(new long[] { 7, 0, 9 }, raw.Labels);
    }

    [Fact]
    public void FingerprintDependsOnPixelsAndLabels()
    {
        var a = new RawImages([1, 2, 3, 4], [0, 1], 1, 1, 2);
        var b = new RawImages([1, 2, 3, 4], [1, 0], 1, 1, 2);
        var c = new RawImages([1, 2, 3, 5], [0, 1], 1, 1, 2);
        Assert.Equal(a.Fingerprint(), new RawImages([1, 2, 3, 4], [0, 1], 1, 1, 2).Fingerprint());
        Assert.NotEqual(a.Fingerprint(), b.Fingerprint());
        Assert.NotEqual(a.Fingerprint(), c.Fingerprint());
        Assert.Equal(32, a.Fingerprint().Length);
    }

    public static TheoryData<string, byte[], string> MalformedImages => new()
    {
        { "wrong magic", [0x1f, 0x00, 8, 3, 0, 0, 0, 1], "not an IDX file" },
        { "float type", DataFiles.IdxBytes(0x0D, [1, 2, 2], new byte[16]), "element type 0x0d is not supported" },
        { "labels given as images", DataFiles.IdxBytes(8, [4], new byte[4]), "has 1 dimensions, expected 3" },
        { "truncated", DataFiles.IdxBytes(8, [3, 2, 4], new byte[20]), "truncated: header says 3 x 2 x 4 = 24 bytes of data, file has 20" },
        { "too long", DataFiles.IdxBytes(8, [1, 2, 2], new byte[6]), "2 bytes after" },
        { "tiny", [0, 0], "not an IDX file" },
        { "header cut", [0, 0, 8, 3, 0, 0], "truncated IDX header" },
    };

    [Theory]
    [MemberData(nameof(MalformedImages))]
    public void MalformedImageFilesGiveClearErrors(string what, byte[] bytes, string expected)
    {
        using var dir = new TempDir();
        string path = dir.File(what.Replace(' ', '-'));
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<RepscopeException>(() => Idx.ReadImages(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void CorruptGzipIsAClearError()
    {
        using var dir = new TempDir();
        DataFiles.WriteFile(dir.File("ok.gz"), DataFiles.IdxBytes(8, [3, 2, 4], Pixels), gzip: true);
        byte[] gz = File.ReadAllBytes(dir.File("ok.gz"));
        File.WriteAllBytes(dir.File("cut.gz"), gz[..(gz.Length / 2)]);
        Assert.Contains("cut.gz", Assert.Throws<RepscopeException>(() => Idx.ReadImages(dir.File("cut.gz"))).Message);
        var bad = (byte[])gz.Clone();
        for (int i = 10; i < bad.Length - 8; i++) { bad[i] ^= 0x5a; }
        File.WriteAllBytes(dir.File("bad.gz"), bad);
        var e = Assert.Throws<RepscopeException>(() => Idx.ReadImages(dir.File("bad.gz")));
        Assert.Contains("bad.gz: corrupt or truncated gzip data", e.Message);
    }

    [Fact]
    public void LabelOutOfRangeAndCountMismatchAreErrors()
    {
        using var dir = new TempDir();
        DataFiles.WriteFile(dir.File("img"), DataFiles.IdxBytes(8, [3, 2, 4], Pixels), false);
        DataFiles.WriteFile(dir.File("bad"), DataFiles.IdxBytes(8, [3], [1, 10, 2]), false);
        DataFiles.WriteFile(dir.File("short"), DataFiles.IdxBytes(8, [2], [1, 2]), false);
        var e = Assert.Throws<RepscopeException>(() => Idx.Read(dir.File("img"), dir.File("bad"), 10));
        Assert.Contains("label 10 of example 1 is outside 0..9", e.Message);
        e = Assert.Throws<RepscopeException>(() => Idx.Read(dir.File("img"), dir.File("short"), 10));
        Assert.Contains("2 labels, but", e.Message);
        Assert.Contains("3 images", e.Message);
        e = Assert.Throws<RepscopeException>(() => Idx.ReadLabels(dir.File("missing")));
        Assert.Contains("file not found", e.Message);
    }
}
