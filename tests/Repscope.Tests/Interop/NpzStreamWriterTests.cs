using Repscope.Interop;

namespace Repscope.Tests.Interop;

public class NpzStreamWriterTests
{
    /// <summary>The arrays of <see cref="NpzTests"/> that have rows (all but the scalar).</summary>
    private static List<NdArray> Arrays() => NpzTests.Layers().Where(a => a.Rank > 0).ToList();

    /// <summary>The arrays appended three rows at a time, interleaved, as a model's taps arrive batch by batch.</summary>
    private static void WriteInterleaved(NpzStreamWriter writer, IReadOnlyList<NdArray> arrays)
    {
        for (long start = 0; start < 8; start += 3)
        {
            foreach (var a in arrays)
            {
                long rows = Math.Max(0, Math.Min(3, a.Rows - start));
                if (rows == 0 && start > 0) { continue; }
                long rowBytes = a.FeaturesPerRow * a.DType.ItemSize();
                writer.Append(a.Name, a.DType, a.Shape[1..], rows, NdArray.Bytes(a.Data, start * rowBytes, rows * rowBytes));
            }
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void InterleavedRowsGiveTheSameArchiveAsWritingTheWholeArrays(bool compress)
    {
        using var dir = new TempDir();
        var arrays = Arrays();
        string streamed = dir.File("streamed.npz"), whole = dir.File("whole.npz");
        using (var writer = new NpzStreamWriter(streamed, compress))
        {
            WriteInterleaved(writer, arrays);
            writer.Complete();
        }
        Npz.Write(whole, arrays, compress);
        var back = Npz.Read(streamed);
        Assert.Equal(arrays.Select(a => a.Name), back.Select(a => a.Name));
        for (int i = 0; i < arrays.Count; i++)
        {
            Assert.Equal(arrays[i].Shape, back[i].Shape);
            Assert.True(arrays[i].ContentEquals(back[i]), arrays[i].Name);
        }
        // Byte for byte what Npz.Write makes of the same arrays held in memory (same headers, same deflate stream).
        Assert.Equal(File.ReadAllBytes(whole), File.ReadAllBytes(streamed));
        Assert.Equal(["streamed.npz", "whole.npz"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void AnArchiveNotCompletedLeavesNothingAndChangedRowShapesAreRefused()
    {
        using var dir = new TempDir();
        string path = dir.File("acts.npz");
        using (var writer = new NpzStreamWriter(path))
        {
            writer.Append("x", NpyDType.Float32, [2], 1, new byte[8]);
            var e = Assert.Throws<ArgumentException>(() => writer.Append("x", NpyDType.Float32, [3], 1, new byte[12]));
            Assert.Contains("'x' changed from", e.Message);
            Assert.Throws<ArgumentException>(() => writer.Append("y", NpyDType.Float32, [2], 2, new byte[8]));   // 2 rows need 16 bytes
        }
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }

    [Fact]
    public void FoldersOfKilledWritersAreRemovedByTheNextAndOthersAreLeft()
    {
        using var dir = new TempDir();
        string path = dir.File("acts.npz");
        // A process that has exited: its id names no running process (ids are not reused this soon).
        using var gone = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("true") { UseShellExecute = false })!;
        gone.WaitForExit();
        string host = System.Text.RegularExpressions.Regex.Replace(Environment.MachineName, @"[^A-Za-z0-9_\-]", "_");
        string Parts(string who, int pid) => Path.Combine(dir.Path, $".acts.npz.{who}.{pid}.{Guid.NewGuid():N}.parts");
        string killed = Parts(host, gone.Id), running = Parts(host, Environment.ProcessId), otherHost = Parts("elsewhere", gone.Id),
               otherFile = Path.Combine(dir.Path, $".other.npz.{host}.{gone.Id}.{Guid.NewGuid():N}.parts");
        foreach (var d in new[] { killed, running, otherHost, otherFile })
        {
            Directory.CreateDirectory(d);
            File.WriteAllBytes(Path.Combine(d, "0.bin"), new byte[16]);
        }
        using (var writer = new NpzStreamWriter(path))
        {
            writer.Append("x", NpyDType.Float32, [2], 1, new byte[8]);
            writer.Complete();
        }
        Assert.False(Directory.Exists(killed));
        Assert.True(Directory.Exists(running) && Directory.Exists(otherHost) && Directory.Exists(otherFile));
        Assert.Equal(new[] { "acts.npz", Path.GetFileName(otherFile), Path.GetFileName(otherHost), Path.GetFileName(running) }.Order(StringComparer.Ordinal),
                     Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }
}
