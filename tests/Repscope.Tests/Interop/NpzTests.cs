using System.IO.Compression;
using Repscope.Interop;

namespace Repscope.Tests.Interop;

public class NpzTests
{
    internal static List<NdArray> Layers() =>
    [
        NpyTestData.Random(NpyDType.Float32, [8, 4, 2, 2], seed: 1, name: "stem"),
        NpyTestData.Random(NpyDType.Float64, [8, 3], seed: 2, name: "stage1.block1"),
        NpyTestData.Random(NpyDType.Int64, [8], seed: 3, name: "labels"),
        NpyTestData.Random(NpyDType.Bool, [8, 2], seed: 4, name: "a/nested"),
        NpyTestData.Random(NpyDType.Float16, [], seed: 5, name: "zz_scalar"),
        NpyTestData.Random(NpyDType.UInt16, [0, 3], seed: 6, name: "empty"),
    ];

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void RoundTripKeepsOrderNamesAndValues(bool compress)
    {
        using var dir = new TempDir();
        var layers = Layers();
        string path = dir.File("acts.npz");
        Npz.Write(path, layers, compress);
        var back = Npz.Read(path);
        Assert.Equal(layers.Select(a => a.Name), back.Select(a => a.Name));
        for (int i = 0; i < layers.Count; i++) { Assert.True(layers[i].ContentEquals(back[i]), layers[i].Name); }

        using var zip = ZipFile.OpenRead(path);
        Assert.Equal(layers.Select(a => a.Name + ".npy"), zip.Entries.Select(e => e.FullName));
        // Local file header: compression method at offset 8 (0 = stored, 8 = deflated).
        using var fs = File.OpenRead(path);
        var local = new byte[10];
        fs.ReadExactly(local);
        Assert.Equal(compress ? 8 : 0, local[8]);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
    }

    [Fact]
    public void InfoReadsHeadersOnlyAndEnumerateIsLazy()
    {
        using var dir = new TempDir();
        var layers = Layers();
        string path = dir.File("acts.npz");
        Npz.Write(path, layers);
        var info = Npz.ReadInfo(path);
        Assert.Equal(layers.Select(a => (a.Name, a.DType, NdArray.ShapeText(a.Shape), a.Rows, a.FeaturesPerRow)),
                     info.Select(i => (i.Name, i.DType, NdArray.ShapeText(i.Shape), i.Rows, i.FeaturesPerRow)));

        var fortran = Npy.ReadInfo(NpyTestData.Fixture("fortran_i2_3d.npy"));
        Assert.Equal(("fortran_i2_3d", NpyDType.Int16, true), (fortran.Name, fortran.DType, fortran.FortranOrder));
        Assert.Equal([2L, 3, 4], fortran.Shape);
        byte[] cut = File.ReadAllBytes(NpyTestData.Fixture("le_float32.npy"))[..^1];
        string cutPath = dir.Write("cut.npy", cut);
        Assert.Contains("truncated", Assert.Throws<RepscopeException>(() => Npy.ReadInfo(cutPath)).Message);

        using var e = Npz.Enumerate(path).GetEnumerator();
        Assert.True(e.MoveNext());
        Assert.True(layers[0].ContentEquals(e.Current));
        Assert.Equal(layers.Count, Npz.Enumerate(path).Count());
    }

    [Fact]
    public void WritingIsReproducible()
    {
        using var dir = new TempDir();
        Npz.Write(dir.File("a.npz"), Layers());
        Npz.Write(dir.File("b.npz"), Layers());
        Assert.Equal(File.ReadAllBytes(dir.File("a.npz")), File.ReadAllBytes(dir.File("b.npz")));
    }

    [Fact]
    public void MemberThatIsNotAnArray()
    {
        string path = NpyTestData.Fixture("bad_member.npz");
        var e = Assert.Throws<RepscopeException>(() => Npz.Read(path));
        Assert.StartsWith($"{path}: member 'notes.txt': not a .npy file (bad magic bytes", e.Message);
    }

    [Fact]
    public void CorruptOrTruncatedArchives()
    {
        using var dir = new TempDir();
        byte[] good = File.ReadAllBytes(NpyTestData.Fixture("deflated.npz"));

        string truncated = dir.Write("truncated.npz", good[..(good.Length / 2)]);
        Assert.StartsWith($"{truncated}: not a valid .npz file (corrupt, truncated or not a zip archive",
            Assert.Throws<RepscopeException>(() => Npz.Read(truncated)).Message);

        string text = dir.Write("text.npz", "just text"u8.ToArray());
        Assert.StartsWith($"{text}: not a valid .npz file", Assert.Throws<RepscopeException>(() => Npz.Read(text)).Message);

        string npy = NpyTestData.Fixture("le_float32.npy");
        Assert.StartsWith($"{npy}: a single .npy array, not an .npz archive", Assert.Throws<RepscopeException>(() => Npz.Read(npy)).Message);

        // Damage the compressed bytes of the first member: the deflate stream or its CRC fails.
        byte[] damaged = (byte[])good.Clone();
        int nameLength = BitConverter.ToUInt16(damaged, 26), extraLength = BitConverter.ToUInt16(damaged, 28);
        int dataStart = 30 + nameLength + extraLength;
        for (int i = dataStart + 20; i < dataStart + 60; i++) { damaged[i] ^= 0x5A; }
        string bad = dir.Write("damaged.npz", damaged);
        var e = Assert.Throws<RepscopeException>(() => Npz.Read(bad));
        Assert.StartsWith($"{bad}: member 'conv1.npy' is corrupt", e.Message);

        // A flipped bit in the data of a stored member: only the CRC-32 can tell.
        byte[] stored = File.ReadAllBytes(NpyTestData.Fixture("stored.npz"));
        int storedName = BitConverter.ToUInt16(stored, 26), storedExtra = BitConverter.ToUInt16(stored, 28);
        stored[30 + storedName + storedExtra + 130] ^= 0x01;
        string crc = dir.Write("crc.npz", stored);
        var c = Assert.Throws<RepscopeException>(() => Npz.Read(crc));
        Assert.Matches("^" + System.Text.RegularExpressions.Regex.Escape(crc) + ": member 'conv1.npy' is corrupt: its CRC-32 is [0-9a-f]{8}, the archive says [0-9a-f]{8}$", c.Message);
        Assert.Equal(4, Npz.ReadInfo(crc).Count);   // headers alone are still readable
    }

    [Fact]
    public void TruncatedMemberInsideAValidArchive()
    {
        using var dir = new TempDir();
        byte[] member = File.ReadAllBytes(NpyTestData.Fixture("le_float32.npy"))[..^8];
        string path = dir.File("short.npz");
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
        {
            using var s = zip.CreateEntry("layer.npy").Open();
            s.Write(member);
        }
        var e = Assert.Throws<RepscopeException>(() => Npz.Read(path));
        Assert.Equal($"{path}: member 'layer.npy': truncated: shape (3, 4) of float32 needs 48 bytes of data, the file has 40", e.Message);
    }

    [Fact]
    public void EmptyArchiveMissingFileAndBadNames()
    {
        using var dir = new TempDir();
        string empty = dir.File("empty.npz");
        using (ZipFile.Open(empty, ZipArchiveMode.Create)) { }
        Assert.Equal($"{empty}: the archive holds no arrays", Assert.Throws<RepscopeException>(() => Npz.Read(empty)).Message);
        string missing = dir.File("missing.npz");
        Assert.Equal($"{missing}: no such file", Assert.Throws<RepscopeException>(() => Npz.Read(missing)).Message);

        var a = NdArray.FromFloat32("x", [1, 2]);
        Assert.Throws<ArgumentException>(() => Npz.Write(dir.File("dup.npz"), [a, a]));
        Assert.Throws<ArgumentException>(() => Npz.Write(dir.File("noname.npz"), [a.WithName("")]));
        Assert.False(File.Exists(dir.File("dup.npz")));
    }
}

/// <summary>The limit on an .npz's total decompressed size (all members together), against zip bombs.</summary>
public class NpzSizeLimitTests
{
    /// <summary>Three members of 1 MiB of zeros each, deflated to about a kilobyte each.</summary>
    private static string Zeros(string dir, int members = 3)
    {
        string path = Path.Combine(dir, "zeros.npz");
        Npz.Write(path, Enumerable.Range(0, members).Select(i => NdArray.FromFloat32($"layer{i}", new float[1 << 18], 1 << 10, 1 << 8)));
        return path;
    }

    [Fact]
    public void TheLimitIsOnAllMembersTogetherNotPerArray()
    {
        string dir = Repscope.Tests.Cli.CliRunner.TempDir();
        try
        {
            string path = Zeros(dir);
            Assert.True(new FileInfo(path).Length < 64 << 10);                 // a small file...
            long oneMember = (1 << 20) + 128;                                   // ...each member 1 MiB + its header
            // Each member is under 2 MiB, all three are not: refused before any member is decompressed.
            var e = Assert.Throws<RepscopeException>(() => Npz.Enumerate(path, maxNpzBytes: 2 << 20).First());
            Assert.StartsWith($"{path}: its members decompress to ", e.Message);
            Assert.Contains("more than the limit of 2,097,152 bytes", e.Message);
            Assert.Throws<RepscopeException>(() => Npz.Read(path, maxNpzBytes: 3 * oneMember - 1));
            Assert.Equal(3, Npz.Read(path, maxNpzBytes: 3 * oneMember).Count);
            Assert.Equal(3, Npz.Read(path).Count);                             // the default, 4 GiB
            Assert.Equal(4L << 30, Npz.DefaultMaxTotalBytes);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void DeclaredSizesAreCheckedBeforeAnythingIsDecompressed()
    {
        // A crafted bomb: two members whose zip headers claim 3.75 GiB each (7.5 GiB together, each under the default limit
        // of 4 GiB on its own). The default limit refuses it from the sizes the archive declares, without allocating them.
        string dir = Repscope.Tests.Cli.CliRunner.TempDir();
        try
        {
            string path = Zeros(dir, members: 2);
            byte[] bytes = File.ReadAllBytes(path);
            const uint claimed = 0xF000_0000;
            int patched = 0;
            for (int i = 0; i + 46 <= bytes.Length; i++)
            {
                uint signature = BitConverter.ToUInt32(bytes, i);
                int at = signature == 0x04034b50 ? i + 22 : signature == 0x02014b50 ? i + 24 : -1;
                if (at < 0) { continue; }
                BitConverter.GetBytes(claimed).CopyTo(bytes, at);
                patched++;
            }
            Assert.Equal(4, patched);   // two local headers, two central-directory records
            File.WriteAllBytes(path, bytes);
            long before = GC.GetAllocatedBytesForCurrentThread();
            var e = Assert.Throws<RepscopeException>(() => Npz.Read(path));
            Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16 << 20, "the members were not allocated");
            Assert.Equal($"{path}: its members decompress to 8,053,063,680 bytes (7.5 GiB), more than the limit of 4,294,967,296 bytes (4 GiB) "
                         + "for a whole archive (a zip bomb, or a large trusted file: raise the limit, maxNpzBytes)", e.Message);

            // The CLI: one line naming the file, exit 2; --max-npz-bytes raises the limit (the small archive then gives its map).
            var o = Repscope.Tests.Cli.CliRunner.Run("heatmap", path, "--out", Path.Combine(dir, "map"));
            Assert.Equal(2, o.ExitCode);
            Assert.Equal("repscope: error: " + e.Message.Replace("maxNpzBytes", "--max-npz-bytes"), o.ErrorLine);
            string small = Zeros(Directory.CreateDirectory(Path.Combine(dir, "small")).FullName);
            o = Repscope.Tests.Cli.CliRunner.Run("heatmap", small, "--out", Path.Combine(dir, "map"), "--max-npz-bytes", "2M");
            Assert.Equal(2, o.ExitCode);
            Assert.Contains("more than the limit of 2,097,152 bytes", o.ErrorLine);
            o = Repscope.Tests.Cli.CliRunner.Run("heatmap", small, "--out", Path.Combine(dir, "map"), "--max-npz-bytes", "4M");
            // A map of constant layers only: complete, every cell undefined and grey (this crashed with exit 3 before), exit 0.
            Assert.True(o.ExitCode == 0, o.Err);
            Assert.Contains("CKA undefined in 9 of 9 cells", o.Err);
            Assert.True(new FileInfo(Path.Combine(dir, "map", "cka.png")).Length > 1000);
            Assert.True(File.Exists(Path.Combine(dir, "map", "cka.json")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
