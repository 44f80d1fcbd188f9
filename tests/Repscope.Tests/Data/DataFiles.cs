using System.IO.Compression;
using Repscope.Data;

namespace Repscope.Tests.Data;

/// <summary>Writes small data files in each format for the reader tests, and a temporary folder that cleans itself up.</summary>
internal static class DataFiles
{
    public static byte[] IdxBytes(byte type, int[] dims, byte[] data)
    {
        var ms = new MemoryStream();
        ms.Write([0, 0, type, (byte)dims.Length]);
        foreach (int d in dims) { ms.Write([(byte)(d >> 24), (byte)(d >> 16), (byte)(d >> 8), (byte)d]); }
        ms.Write(data);
        return ms.ToArray();
    }

    public static void WriteFile(string path, byte[] bytes, bool gzip)
    {
        if (!gzip) { File.WriteAllBytes(path, bytes); return; }
        using var fs = File.Create(path);
        using var gz = new GZipStream(fs, CompressionLevel.Fastest);
        gz.Write(bytes);
    }

    /// <summary>Writes an MNIST-layout folder (train-*, t10k-*; gzipped) from raw images.</summary>
    public static void WriteIdxDataSet(string dir, RawImages train, RawImages test)
    {
        Directory.CreateDirectory(dir);
        foreach (var (prefix, raw) in new[] { ("train", train), ("t10k", test) })
        {
            WriteFile(Path.Combine(dir, $"{prefix}-images-idx3-ubyte.gz"), IdxBytes(8, [(int)raw.Count, raw.Height, raw.Width], raw.Pixels), gzip: true);
            WriteFile(Path.Combine(dir, $"{prefix}-labels-idx1-ubyte.gz"), IdxBytes(8, [(int)raw.Count], raw.Labels.Select(l => (byte)l).ToArray()), gzip: true);
        }
    }

    /// <summary>A learnable task: class k (0..3) has its quadrant k brighter than the rest, plus noise.</summary>
    public static RawImages Quadrants(int count, int side, int seed)
    {
        var rng = new Random(seed);
        var pixels = new byte[count * side * side];
        var labels = new long[count];
        int half = side / 2;
        for (int i = 0; i < count; i++)
        {
            int k = i % 4;
            labels[i] = k;
            for (int y = 0; y < side; y++)
            {
                for (int x = 0; x < side; x++)
                {
                    bool inQuadrant = (y < half) == (k < 2) && (x < half) == (k % 2 == 0);
                    int v = (inQuadrant ? 150 : 60) + rng.Next(-50, 51);
                    pixels[i * side * side + y * side + x] = (byte)v;
                }
            }
        }
        return new RawImages(pixels, labels, 1, side, side);
    }
}

public sealed class TempDir : IDisposable
{
    public TempDir() { Directory.CreateDirectory(Path); }
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "repscope-test-" + Guid.NewGuid().ToString("N"));
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
}
