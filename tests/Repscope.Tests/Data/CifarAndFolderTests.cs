using Repscope.Data;
using SkiaSharp;

namespace Repscope.Tests.Data;

public class CifarAndFolderTests
{
    private static byte[] Record(byte[] labels, byte fill) => [.. labels, .. Enumerable.Repeat(fill, CifarBinary.ImageBytes)];

    [Fact]
    public void ReadsCifar10RecordsAcrossFiles()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("a.bin"), [.. Record([3], 10), .. Record([9], 20)]);
        var second = Record([0], 0);
        second[1] = 255;                       // first red pixel
        second[1 + 1024] = 128;                // first green pixel
        File.WriteAllBytes(dir.File("b.bin"), second);
        var raw = CifarBinary.ReadCifar10([dir.File("a.bin"), dir.File("b.bin")]);
        Assert.Equal(new long[] { 3, 9, 0 }, raw.Labels);
        Assert.Equal((3, 32, 32), (raw.Channels, raw.Height, raw.Width));
        Assert.Equal(10, raw.Pixels[0]);
        Assert.Equal(20, raw.Pixels[CifarBinary.ImageBytes]);
        Assert.Equal(255, raw.Pixels[2 * CifarBinary.ImageBytes]);
        Assert.Equal(128, raw.Pixels[2 * CifarBinary.ImageBytes + 1024]);
    }

    [Fact]
    public void ReadsCifar100FineOrCoarse()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("train.bin"), [.. Record([19, 99], 1), .. Record([4, 30], 2)]);
        Assert.Equal(new long[] { 99, 30 }, CifarBinary.ReadCifar100([dir.File("train.bin")], Cifar100Labels.Fine).Labels);
        Assert.Equal(new long[] { 19, 4 }, CifarBinary.ReadCifar100([dir.File("train.bin")], Cifar100Labels.Coarse).Labels);
    }

    [Fact]
    public void MalformedCifarFilesGiveClearErrors()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("cut.bin"), Record([1], 0)[..3000]);
        var e = Assert.Throws<RepscopeException>(() => CifarBinary.ReadCifar10([dir.File("cut.bin")]));
        Assert.Contains("cut.bin: 3000 bytes is not a whole number of 3073-byte CIFAR records", e.Message);

        File.WriteAllBytes(dir.File("label.bin"), [.. Record([2], 0), .. Record([10], 0)]);
        e = Assert.Throws<RepscopeException>(() => CifarBinary.ReadCifar10([dir.File("label.bin")]));
        Assert.Contains("label.bin: label 10 of record 1 is outside 0..9", e.Message);

        // A CIFAR-10 file read as CIFAR-100 has the wrong record size.
        e = Assert.Throws<RepscopeException>(() => CifarBinary.ReadCifar100([dir.File("label.bin")], Cifar100Labels.Fine));
        Assert.Contains("3074-byte", e.Message);

        File.WriteAllText(dir.File("names.txt"), "a\nb\n");
        e = Assert.Throws<RepscopeException>(() => CifarBinary.ReadNames(dir.File("names.txt"), 10));
        Assert.Contains("2 class names, expected 10", e.Message);
    }

    [Fact]
    public void Cifar10FolderLoadsThroughDataSets()
    {
        using var dir = new TempDir();
        for (int i = 1; i <= 5; i++) { File.WriteAllBytes(dir.File($"data_batch_{i}.bin"), [.. Record([(byte)i], (byte)i), .. Record([0], 0)]); }
        File.WriteAllBytes(dir.File("test_batch.bin"), [.. Record([7], 7), .. Record([8], 8)]);
        using var splits = DataSets.Load(new DataSpec { Name = DataName.Cifar10, Path = dir.Path });
        Assert.Equal(10, splits.Train.Count);
        Assert.Equal(new long[] { 7, 8 }, splits.Test.Labels);
        Assert.Equal("airplane", splits.Train.ClassNames[0]);
        Assert.Equal(new long[] { 2, 3, 32, 32 }, splits.Test.Images.shape);
    }

    private static void WritePng(string path, SKColor color, int w, int h)
    {
        using var bmp = new SKBitmap(w, h);
        bmp.Erase(color);
        using var data = bmp.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
    }

    [Fact]
    public void ReadsImageFolderResizedWithClassesSorted()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("red"));
        Directory.CreateDirectory(dir.File("blue"));
        WritePng(Path.Combine(dir.File("red"), "1.png"), new SKColor(200, 10, 20), 40, 30);
        WritePng(Path.Combine(dir.File("red"), "2.png"), new SKColor(200, 10, 20), 5, 7);
        WritePng(Path.Combine(dir.File("blue"), "1.png"), new SKColor(0, 30, 250), 16, 16);
        File.WriteAllText(Path.Combine(dir.File("blue"), "notes.txt"), "ignored");
        var (raw, names) = ImageFolder.Read(dir.Path, 8);
        Assert.Equal(new[] { "blue", "red" }, names);
        Assert.Equal(new long[] { 0, 1, 1 }, raw.Labels);
        Assert.Equal((3, 8, 8), (raw.Channels, raw.Height, raw.Width));
        // Solid colours survive resizing: every pixel of each plane has the colour's value.
        Assert.All(raw.Pixels[..64], v => Assert.Equal(0, v));
        Assert.All(raw.Pixels[64..128], v => Assert.Equal(30, v));
        Assert.All(raw.Pixels[128..192], v => Assert.Equal(250, v));
        Assert.All(raw.Pixels[192..256], v => Assert.Equal(200, v));
    }

    [Fact]
    public void BadImageFoldersGiveClearErrors()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("a"));
        var e = Assert.Throws<RepscopeException>(() => ImageFolder.Read(dir.Path, 8));
        Assert.Contains("at least 2", e.Message);
        Directory.CreateDirectory(dir.File("b"));
        WritePng(Path.Combine(dir.File("a"), "x.png"), SKColors.White, 4, 4);
        e = Assert.Throws<RepscopeException>(() => ImageFolder.Read(dir.Path, 8));
        Assert.Contains("class folder has no PNG or JPEG images", e.Message);
        File.WriteAllText(Path.Combine(dir.File("b"), "fake.jpg"), "not a jpeg");
        e = Assert.Throws<RepscopeException>(() => ImageFolder.Read(dir.Path, 8));
        Assert.Contains("fake.jpg: not a readable PNG or JPEG image", e.Message);
    }
}
