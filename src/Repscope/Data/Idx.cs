using System.IO.Compression;

namespace Repscope.Data;

/// <summary>
/// The IDX format of MNIST and Fashion-MNIST (gzipped or not): big-endian magic
/// 0x00 0x00 &lt;type&gt; &lt;dims&gt;, one 32-bit big-endian size per dimension, then the data.
/// Only unsigned bytes (type 0x08) occur in these data sets, and only they are read.
/// </summary>
public static class Idx
{
    /// <summary>Reads an images file (3 dimensions: N x H x W) as single-channel images.</summary>
    public static RawImagesOnly ReadImages(string path)
    {
        var (dims, data, offset) = Read(path, expectedDims: 3, what: "images");
        return new RawImagesOnly(data, offset, (int)dims[0], (int)dims[1], (int)dims[2]);
    }

    /// <summary>Reads a labels file (1 dimension: N).</summary>
    public static long[] ReadLabels(string path)
    {
        var (dims, data, offset) = Read(path, expectedDims: 1, what: "labels");
        var labels = new long[dims[0]];
        for (int i = 0; i < labels.Length; i++) { labels[i] = data[offset + i]; }
        return labels;
    }

    /// <summary>Reads an images file and its labels file into labelled images, checking they match.</summary>
    public static RawImages Read(string imagesPath, string labelsPath, int classes)
    {
        var images = ReadImages(imagesPath);
        var labels = ReadLabels(labelsPath);
        if (labels.LongLength != images.Count)
        {
            throw new RepscopeException($"{labelsPath}: {labels.LongLength} labels, but {imagesPath} has {images.Count} images");
        }
        var raw = new RawImages(images.CopyPixels(), labels, 1, images.Height, images.Width);
        raw.CheckLabels(classes, labelsPath);
        return raw;
    }

    /// <summary>Images of an IDX file without labels (pixels stay in the file buffer until copied).</summary>
    public sealed class RawImagesOnly(byte[] buffer, int offset, int count, int height, int width)
    {
        public int Count { get; } = count;
        public int Height { get; } = height;
        public int Width { get; } = width;
        public byte[] CopyPixels() => buffer.AsSpan(offset, Count * Height * Width).ToArray();
    }

    private static (long[] Dims, byte[] Data, int Offset) Read(string path, int expectedDims, string what)
    {
        byte[] bytes = ReadMaybeGzip(path);
        if (bytes.Length < 4) { throw new RepscopeException($"{path}: not an IDX file: only {bytes.Length} bytes"); }
        if (bytes[0] != 0 || bytes[1] != 0)
        {
            throw new RepscopeException($"{path}: not an IDX file: magic starts with 0x{bytes[0]:x2} 0x{bytes[1]:x2}, expected 0x00 0x00");
        }
        if (bytes[2] != 0x08)
        {
            throw new RepscopeException($"{path}: IDX element type 0x{bytes[2]:x2} is not supported (expected unsigned bytes, 0x08)");
        }
        int dims = bytes[3];
        if (dims != expectedDims)
        {
            throw new RepscopeException($"{path}: IDX file has {dims} dimensions, expected {expectedDims} for {what}");
        }
        int header = 4 + 4 * dims;
        if (bytes.Length < header) { throw new RepscopeException($"{path}: truncated IDX header ({bytes.Length} bytes, need {header})"); }
        var sizes = new long[dims];
        long total = 1;
        for (int d = 0; d < dims; d++)
        {
            int o = 4 + 4 * d;
            sizes[d] = (uint)(bytes[o] << 24 | bytes[o + 1] << 16 | bytes[o + 2] << 8 | bytes[o + 3]);
            if (sizes[d] == 0 && d > 0) { throw new RepscopeException($"{path}: IDX dimension {d} has size 0"); }
            total *= sizes[d];
        }
        long have = bytes.Length - header;
        if (have < total)
        {
            throw new RepscopeException($"{path}: truncated: header says {string.Join(" x ", sizes)} = {total} bytes of data, file has {have}");
        }
        if (have > total)
        {
            throw new RepscopeException($"{path}: {have - total} bytes after the {string.Join(" x ", sizes)} data (wrong sizes in the header?)");
        }
        return (sizes, bytes, header);
    }

    /// <summary>The file's bytes, decompressed when it starts with the gzip magic (0x1f 0x8b).</summary>
    internal static byte[] ReadMaybeGzip(string path)
    {
        if (!File.Exists(path)) { throw new RepscopeException($"{path}: file not found"); }
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b) { return bytes; }
        try
        {
            using var gz = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
            using var ms = new MemoryStream();
            gz.CopyTo(ms);
            return ms.ToArray();
        }
        catch (InvalidDataException e)
        {
            throw new RepscopeException($"{path}: corrupt or truncated gzip data ({e.Message})");
        }
    }
}
