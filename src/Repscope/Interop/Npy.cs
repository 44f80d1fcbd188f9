using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace Repscope.Interop;

/// <summary>What the header of a .npy file (or npz member) says, without the data.</summary>
public sealed record NpyInfo(string Name, NpyDType DType, long[] Shape, bool FortranOrder)
{
    /// <summary>Shape[0], or 1 for a 0-d array.</summary>
    public long Rows => Shape.Length == 0 ? 1 : Shape[0];

    /// <summary>Product of Shape[1..].</summary>
    public long FeaturesPerRow => Shape.Skip(1).Aggregate(1L, (a, b) => a * b);
}

/// <summary>How <see cref="Npy.Write(string, NdArray, NpyWriteOptions)"/> lays out a file.</summary>
public sealed record NpyWriteOptions
{
    public static readonly NpyWriteOptions Default = new();

    /// <summary>Store the data in Fortran (column-major) order (arrays of rank 2 and more).</summary>
    public bool FortranOrder { get; init; }

    public NpyByteOrder ByteOrder { get; init; } = NpyByteOrder.Little;

    /// <summary>Format version 1, 2 or 3; 0 (default) writes the oldest that can hold the header, as numpy does.</summary>
    public int Version { get; init; }
}

/// <summary>
/// numpy's .npy format (numpy/lib/format.py, "NEP 1"): format versions 1.0, 2.0 and 3.0, any byte
/// order, C or Fortran order, the dtypes of <see cref="NpyDType"/>. Every problem with a file is a
/// one-line <see cref="RepscopeException"/> that names the file.
/// </summary>
public static class Npy
{
    internal static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Headers longer than this are refused as corrupt (numpy's own limit is 10 000 bytes).</summary>
    internal const int MaxHeaderLength = 1 << 20;

    private const int ChunkBytes = 1 << 26;

    /// <summary>Reads a .npy file; the array is named after the file, without ".npy".</summary>
    public static NdArray Read(string path)
    {
        using var fs = OpenForReading(path);
        return Read(fs, fs.Length, path, NameOf(path));
    }

    /// <summary>
    /// Reads one .npy array of <paramref name="length"/> bytes from a stream (which need not seek).
    /// <paramref name="source"/> starts every error message, e.g. "a.npz: member 'x.npy'".
    /// </summary>
    public static NdArray Read(Stream stream, long length, string source, string name)
    {
        var (header, headerEnd) = ReadHeader(stream, length, source);
        return ReadData(stream, length - headerEnd, header, source, name);
    }

    /// <summary>
    /// A little-endian, C-order float32 or float64 .npy of rank 1 or more, read in chunks straight into a [rows, features]
    /// tensor in libtorch's (native) memory: the file's data is held once, never also as a managed array (which
    /// <see cref="Read(string)"/> followed by a copy into a tensor would do). Null for any other layout or dtype (the caller
    /// falls back to <see cref="Read(string)"/>); every problem with the file is the same one-line error as there.
    /// </summary>
    public static TorchSharp.torch.Tensor? ReadFloatTensor(string path)
    {
        using var fs = OpenForReading(path);
        var (header, headerEnd) = ReadHeader(fs, fs.Length, path);
        long count = CheckDataLength(header, fs.Length - headerEnd, path);
        bool fits = header.DType is NpyDType.Float32 or NpyDType.Float64 && header.ByteOrder == NpyByteOrder.Little
                    && header.Shape.Length > 0 && !(header.FortranOrder && header.Shape.Length > 1);
        if (!fits || count == 0 || count / header.Shape[0] * header.DType.ItemSize() > int.MaxValue) { return null; }
        long rows = header.Shape[0];
        var type = header.DType == NpyDType.Float32 ? TorchSharp.torch.ScalarType.Float32 : TorchSharp.torch.ScalarType.Float64;
        var t = TorchSharp.torch.empty([rows, count / rows], type);
        try
        {
            long rowBytes = count / rows * header.DType.ItemSize();
            long rowsPerChunk = Math.Max(1, ChunkBytes / rowBytes);
            for (long r = 0; r < rows; r += rowsPerChunk)
            {
                using var slice = t.narrow(0, r, Math.Min(rowsPerChunk, rows - r));   // contiguous: whole rows of a C-order tensor
                var span = slice.bytes;
                int n = ReadUpTo(fs, span);
                if (n < span.Length)
                {
                    throw new RepscopeException($"{path}: truncated: {Describe(header)} needs {count * header.DType.ItemSize()} bytes of data, the stream ended after {r * rowBytes + n}");
                }
            }
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    /// <summary>Name, dtype and shape of a .npy file from its header, without loading the data (the data's size is checked).</summary>
    public static NpyInfo ReadInfo(string path)
    {
        using var fs = OpenForReading(path);
        return ReadInfo(fs, fs.Length, path, NameOf(path));
    }

    /// <summary>Like <see cref="Read(Stream, long, string, string)"/>, reading only the header.</summary>
    public static NpyInfo ReadInfo(Stream stream, long length, string source, string name)
    {
        var (header, headerEnd) = ReadHeader(stream, length, source);
        CheckDataLength(header, length - headerEnd, source);
        return new NpyInfo(name, header.DType, header.Shape, header.FortranOrder);
    }

    /// <summary>The header of a .npy image of <paramref name="length"/> bytes and where its data start, after checking the data's length.</summary>
    internal static (NpyHeader Header, long HeaderEnd) ReadCheckedHeader(Stream stream, long length, string source)
    {
        var (header, headerEnd) = ReadHeader(stream, length, source);
        CheckDataLength(header, length - headerEnd, source);
        return (header, headerEnd);
    }

    private static (NpyHeader Header, long HeaderEnd) ReadHeader(Stream stream, long length, string source)
    {
        Span<byte> preamble = stackalloc byte[12];
        int got = ReadUpTo(stream, preamble[..8]);
        if (got >= 4 && preamble[..4].SequenceEqual("PK\u0003\u0004"u8))
        {
            throw new RepscopeException(FileKind.IsPyTorchZip(stream, source) is true
                ? $"{source}: {FileKind.PyTorchFile}"
                : $"{source}: not a .npy file: it is a zip archive (an .npz?)");
        }
        if (FileKind.IsPickle(preamble[..got])) { throw new RepscopeException($"{source}: {FileKind.PickleFile}"); }
        if (got == 0) { throw new RepscopeException($"{source}: empty file, not a .npy array"); }
        if (got < 6 && preamble[..got].SequenceEqual(Magic[..got]))
        {
            throw new RepscopeException($"{source}: truncated .npy file: {got} bytes, ends inside the preamble");
        }
        if (got < 6 || !preamble[..6].SequenceEqual(Magic))
        {
            throw new RepscopeException($"{source}: not a .npy file (bad magic bytes; a .npy file starts with \\x93NUMPY)");
        }
        if (got < 8) { throw new RepscopeException($"{source}: truncated .npy file: {got} bytes, ends inside the preamble"); }
        int major = preamble[6], minor = preamble[7];
        if (major is < 1 or > 3 || minor != 0)
        {
            throw new RepscopeException($"{source}: unsupported .npy format version {major}.{minor} (supported: 1.0, 2.0, 3.0)");
        }
        int lengthBytes = major == 1 ? 2 : 4;
        if (ReadUpTo(stream, preamble.Slice(8, lengthBytes)) < lengthBytes)
        {
            throw new RepscopeException($"{source}: truncated .npy file: ends inside the preamble");
        }
        long headerLength = major == 1 ? BinaryPrimitives.ReadUInt16LittleEndian(preamble[8..])
                                       : BinaryPrimitives.ReadUInt32LittleEndian(preamble[8..]);
        long headerEnd = 8 + lengthBytes + headerLength;
        if (headerEnd > length)
        {
            throw new RepscopeException($"{source}: header length {headerLength} runs past the end of the file ({length} bytes): truncated or corrupt");
        }
        if (headerLength > MaxHeaderLength)
        {
            throw new RepscopeException($"{source}: header length {headerLength} is implausibly large: corrupt file");
        }
        var headerBytes = new byte[headerLength];
        if (ReadUpTo(stream, headerBytes) < headerLength)
        {
            throw new RepscopeException($"{source}: truncated .npy file: ends inside the header");
        }
        string headerText;
        try
        {
            headerText = major == 3 ? new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(headerBytes)
                                    : Encoding.Latin1.GetString(headerBytes);
        }
        catch (DecoderFallbackException)
        {
            throw new RepscopeException($"{source}: malformed .npy header (version 3.0 header is not valid UTF-8)");
        }
        return (NpyHeader.Parse(headerText, source), headerEnd);
    }

    private static string Describe(NpyHeader header) => $"shape {NdArray.ShapeText(header.Shape)} of {header.DType.NumpyName()}";

    /// <summary>The element count; the data's byte size must equal what the file holds after the header.</summary>
    private static long CheckDataLength(NpyHeader header, long available, string source)
    {
        int itemSize = header.DType.ItemSize();
        string what = Describe(header);
        long count = NdArray.CheckedCount(header.Shape) ?? throw new RepscopeException($"{source}: {what} has too many elements");
        long needed;
        try { needed = checked(count * itemSize); }
        catch (OverflowException) { throw new RepscopeException($"{source}: {what} has too many elements"); }
        if (needed > available)
        {
            throw new RepscopeException($"{source}: truncated: {what} needs {needed} bytes of data, the file has {available}");
        }
        if (needed < available)
        {
            throw new RepscopeException($"{source}: {available - needed} unexpected bytes after the data ({what} needs {needed} bytes, the file has {available})");
        }
        if (count > Array.MaxLength)
        {
            throw new RepscopeException($"{source}: {what} has {count} elements, more than can be loaded at once ({Array.MaxLength})");
        }
        return count;
    }

    private static NdArray ReadData(Stream stream, long available, NpyHeader header, string source, string name)
    {
        long count = CheckDataLength(header, available, source);
        int itemSize = header.DType.ItemSize();
        long needed = count * itemSize;
        string what = Describe(header);
        Array data = header.DType.Allocate(count);
        for (long off = 0; off < needed; off += ChunkBytes)
        {
            var span = NdArray.Bytes(data, off, Math.Min(ChunkBytes, needed - off));
            int n = ReadUpTo(stream, span);
            if (n < span.Length)
            {
                throw new RepscopeException($"{source}: truncated: {what} needs {needed} bytes of data, the stream ended after {off + n}");
            }
            if (header.ByteOrder == NpyByteOrder.Big) { SwapBytes(span, itemSize); }
            if (header.DType == NpyDType.Bool) { NormaliseBools(span); }
        }
        long[] shape = header.Shape;
        if (header.FortranOrder && shape.Length > 1)
        {
            data = Transpose(data, itemSize, shape, fortranToC: true);
        }
        return NdArray.Wrap(name, header.DType, shape, data);
    }

    /// <summary>Writes a .npy file atomically (numpy's layout: version 1.0, little-endian, C order by default).</summary>
    public static void Write(string path, NdArray array) => Write(path, array, NpyWriteOptions.Default);

    public static void Write(string path, NdArray array, NpyWriteOptions options)
    {
        ArgumentNullException.ThrowIfNull(array);
        AtomicFile.Write(path, s => Write(s, array, options));
    }

    /// <summary>Writes one .npy image of <paramref name="array"/> to a stream.</summary>
    public static void Write(Stream stream, NdArray array, NpyWriteOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(array);
        options ??= NpyWriteOptions.Default;
        bool fortran = options.FortranOrder && array.Rank > 1;
        var header = new NpyHeader(array.DType, options.ByteOrder, fortran, array.Shape);
        int version = options.Version switch
        {
            0 => header.Format().Length + 12 <= ushort.MaxValue ? 1 : 2,
            1 or 2 or 3 => options.Version,
            _ => throw new ArgumentOutOfRangeException(nameof(options), options.Version, "the .npy format version must be 1, 2 or 3"),
        };
        stream.Write(header.Encode(version));

        int itemSize = array.DType.ItemSize();
        Array data = fortran ? Transpose(array.Data, itemSize, array.Shape, fortranToC: false) : array.Data;
        long total = array.ByteLength;
        bool swap = options.ByteOrder == NpyByteOrder.Big && itemSize > 1;
        byte[]? buffer = swap ? new byte[(int)Math.Min(ChunkBytes, Math.Max(total, 1))] : null;
        for (long off = 0; off < total; off += ChunkBytes)
        {
            var span = NdArray.Bytes(data, off, Math.Min(ChunkBytes, total - off));
            if (buffer is null) { stream.Write(span); continue; }
            var copy = buffer.AsSpan(0, span.Length);
            span.CopyTo(copy);
            SwapBytes(copy, itemSize);
            stream.Write(copy);
        }
    }

    internal static string NameOf(string path)
    {
        string file = Path.GetFileName(path);
        return file.EndsWith(".npy", StringComparison.OrdinalIgnoreCase) ? file[..^4] : file;
    }

    internal static FileStream OpenForReading(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new RepscopeException($"{path}: no such file");
        }
        catch (UnauthorizedAccessException)
        {
            throw new RepscopeException(Directory.Exists(path) ? $"{path}: is a folder, not a file" : $"{path}: permission denied");
        }
    }

    /// <summary>Reads until <paramref name="buffer"/> is full or the stream ends; returns the bytes read.</summary>
    internal static int ReadUpTo(Stream stream, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = stream.Read(buffer[total..]);
            if (n == 0) { break; }
            total += n;
        }
        return total;
    }

    private static void SwapBytes(Span<byte> span, int itemSize)
    {
        switch (itemSize)
        {
            case 2: { var s = MemoryMarshal.Cast<byte, ushort>(span); BinaryPrimitives.ReverseEndianness(s, s); break; }
            case 4: { var s = MemoryMarshal.Cast<byte, uint>(span); BinaryPrimitives.ReverseEndianness(s, s); break; }
            case 8: { var s = MemoryMarshal.Cast<byte, ulong>(span); BinaryPrimitives.ReverseEndianness(s, s); break; }
        }
    }

    /// <summary>numpy treats any non-zero byte of a bool array as True; .NET bools must be exactly 0 or 1.</summary>
    private static void NormaliseBools(Span<byte> span)
    {
        for (int i = 0; i < span.Length; i++)
        {
            if (span[i] > 1) { span[i] = 1; }
        }
    }

    /// <summary>A new array with the elements of <paramref name="source"/> moved between Fortran and C order.</summary>
    private static Array Transpose(Array source, int itemSize, long[] shape, bool fortranToC)
    {
        var type = source.GetType().GetElementType()!;
        Array result = Array.CreateInstance(type, source.LongLength);
        switch (itemSize)
        {
            case 1: Transpose<byte>(source, result, shape, fortranToC); break;
            case 2: Transpose<ushort>(source, result, shape, fortranToC); break;
            case 4: Transpose<uint>(source, result, shape, fortranToC); break;
            case 8: Transpose<ulong>(source, result, shape, fortranToC); break;
            default: throw new ArgumentOutOfRangeException(nameof(itemSize));
        }
        return result;
    }

    private static void Transpose<T>(Array sourceArray, Array resultArray, long[] shape, bool fortranToC) where T : unmanaged
    {
        int count = (int)sourceArray.LongLength;
        if (count == 0) { return; }
        var src = AsSpan<T>(sourceArray, count);
        var dst = AsSpan<T>(resultArray, count);
        int rank = shape.Length;
        if (rank == 2)
        {
            // A Fortran (r, c) array is a C-order (c, r) matrix: one tiled matrix transpose.
            int r = (int)shape[0], c = (int)shape[1];
            if (fortranToC) { Transpose2D(src, dst, c, r); }
            else { Transpose2D(src, dst, r, c); }
            return;
        }
        // Fortran strides (in elements): the first axis varies fastest.
        var fStride = new int[rank];
        int stride = 1;
        for (int k = 0; k < rank; k++) { fStride[k] = stride; stride *= (int)shape[k]; }
        int inner = (int)shape[rank - 1], innerStride = fStride[rank - 1];
        var index = new int[rank - 1];
        int fBase = 0;
        for (int c = 0; c < count; c += inner)
        {
            if (fortranToC)
            {
                for (int j = 0; j < inner; j++) { dst[c + j] = src[fBase + j * innerStride]; }
            }
            else
            {
                for (int j = 0; j < inner; j++) { dst[fBase + j * innerStride] = src[c + j]; }
            }
            for (int k = rank - 2; k >= 0; k--)   // advance the C-order index over the outer axes
            {
                index[k]++;
                fBase += fStride[k];
                if (index[k] < shape[k]) { break; }
                fBase -= index[k] * fStride[k];
                index[k] = 0;
            }
        }
    }

    /// <summary>dst (cols x rows) = transpose of src (rows x cols), both C order, in cache-sized tiles.</summary>
    private static void Transpose2D<T>(ReadOnlySpan<T> src, Span<T> dst, int rows, int cols) where T : unmanaged
    {
        const int tile = 32;
        for (int i0 = 0; i0 < rows; i0 += tile)
        {
            int i1 = Math.Min(rows, i0 + tile);
            for (int j0 = 0; j0 < cols; j0 += tile)
            {
                int j1 = Math.Min(cols, j0 + tile);
                for (int i = i0; i < i1; i++)
                {
                    for (int j = j0; j < j1; j++) { dst[j * rows + i] = src[i * cols + j]; }
                }
            }
        }
    }

    private static Span<T> AsSpan<T>(Array array, int count) where T : unmanaged =>
        MemoryMarshal.CreateSpan(ref Unsafe.As<byte, T>(ref MemoryMarshal.GetArrayDataReference(array)), count);
}
