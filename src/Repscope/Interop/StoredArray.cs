using System.IO.Compression;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Repscope.Interop;

/// <summary>
/// A little-endian, C-order float32 or float64 array of rank 1 or more whose data lie uncompressed at a known place
/// in a file: a .npy file, or a member of an .npz written by np.savez (stored, not deflated). Any rows can be read
/// straight from the file into native memory (<see cref="ReadRows"/>), so a computation over minibatches holds a
/// batch at a time instead of the whole array. A deflated member (np.savez_compressed) is one once <see cref="Inflate"/>d. The data's integrity is checked by <see cref="Verify"/>: a stored
/// .npz member's CRC-32 (numpy checks it too), over one sequential pass of the file.
/// </summary>
/// <param name="File">The file that holds the data.</param>
/// <param name="Name">The array's name (the member without ".npy", or the file name without it).</param>
/// <param name="Source">How error messages name the array ("a.npz: array 'x'" or "a.npy").</param>
/// <param name="DataOffset">Byte offset of the first element in <paramref name="File"/>.</param>
/// <param name="MemberOffset">For an .npz member: where its bytes (the .npy image) start, for the CRC; else -1.</param>
/// <param name="MemberLength">For an .npz member: its length; else 0.</param>
/// <param name="MemberCrc">For an .npz member: the CRC-32 the archive records; else 0.</param>
/// <param name="Member">For an .npz member: its name in the archive ("x.npy"); else null.</param>
public sealed record StoredArray(string File, string Name, string Source, NpyDType DType, long[] Shape, long DataOffset,
                                 long MemberOffset = -1, long MemberLength = 0, uint MemberCrc = 0, string? Member = null)
{
    /// <summary>Whether <see cref="ReadRows"/> can read it: a float32/float64, little-endian, C-order array of rank 1 or more with rows.</summary>
    public bool Streamable { get; init; }

    /// <summary>
    /// A deflated .npz member (np.savez_compressed): its header is known (<see cref="DataOffset"/> is relative to the
    /// member's first byte) but its rows cannot be read until <see cref="Inflate"/> makes a stored copy of it.
    /// </summary>
    public bool Deflated { get; init; }

    public long Rows => Shape.Length == 0 ? 1 : Shape[0];

    public long FeaturesPerRow => Shape.Skip(1).Aggregate(1L, (a, b) => a * b);

    public long RowBytes => FeaturesPerRow * DType.ItemSize();

    public long ByteLength => Rows * RowBytes;

    /// <summary>A .npy file as a stored array, or null when its layout is not one (another dtype, byte order, Fortran order, empty).</summary>
    public static StoredArray? OfNpy(string path)
    {
        using var fs = Npy.OpenForReading(path);
        var (header, headerEnd) = Npy.ReadCheckedHeader(fs, fs.Length, path);
        return Fits(header) ? new StoredArray(path, Npy.NameOf(path), path, header.DType, header.Shape, headerEnd) { Streamable = true } : null;
    }

    /// <summary>
    /// Every member of an .npz as a stored array, in member order, or null when a member's header cannot be read or it
    /// is neither stored nor deflated (the caller then reads the archive as usual, which gives any error message). Headers
    /// are read and checked; the data are not. Deflated members are <see cref="Deflated"/> until <see cref="Inflate"/>d. Members of other layouts
    /// (integer labels, Fortran order) have <see cref="Streamable"/> false and are read whole by <see cref="ReadArray"/>.
    /// </summary>
    public static IReadOnlyList<StoredArray>? OfNpz(string path, long maxNpzBytes = Npz.DefaultMaxTotalBytes)
    {
        using var fs = Npy.OpenForReading(path);
        FileKind.RefuseNonZip(fs, path);
        ZipArchive zip;
        try { zip = new ZipArchive(fs, ZipArchiveMode.Read, leaveOpen: true); }
        catch (InvalidDataException) { return null; } // the usual reader gives the message
        using (zip)
        {
            if (FileKind.IsPyTorchZip(zip)) { return null; }
            Npz.CheckTotalSize(zip, path, maxNpzBytes);
            var arrays = new List<StoredArray>();
            foreach (var entry in zip.Entries)
            {
                if (entry.FullName.EndsWith('/') || entry.Length == 0) { return null; }
                string name = entry.FullName.EndsWith(".npy", StringComparison.Ordinal) ? entry.FullName[..^4] : entry.FullName;
                string source = $"{path}: array '{name}'";
                // A stored member's compressed length is its length; deflate adds at least a few bytes per block.
                bool deflated = entry.CompressedLength != entry.Length;
                NpyHeader header;
                long headerEnd, memberStart;
                try
                {
                    using var stream = entry.Open();
                    memberStart = fs.Position;   // opening a stored member seeks the archive to its first byte
                    (header, headerEnd) = Npy.ReadCheckedHeader(stream, entry.Length, source);
                }
                catch (Exception e) when (e is RepscopeException or InvalidDataException or NotSupportedException) { return null; }
                if (deflated)
                {
                    arrays.Add(new StoredArray(path, name, source, header.DType, header.Shape, headerEnd, -1, entry.Length, entry.Crc32, entry.FullName)
                    {
                        Streamable = Fits(header), Deflated = true,
                    });
                    continue;
                }
                if (!SameBytes(fs, memberStart, entry)) { return null; }
                arrays.Add(new StoredArray(path, name, source, header.DType, header.Shape, memberStart + headerEnd, memberStart, entry.Length, entry.Crc32, entry.FullName)
                {
                    Streamable = Fits(header),
                });
            }
            return arrays.Count == 0 ? null : arrays;
        }
    }

    /// <summary>
    /// A deflated member as a stored array: inflated once, sequentially (a 1 MiB buffer), into an unlinked temporary file
    /// of <paramref name="temporaries"/>, its CRC-32 checked on the way (the error of <see cref="Npz.Read"/>); then its rows
    /// are read like a stored member's, so a minibatch computation gives the same bits as on np.savez or on loaded arrays.
    /// Deflate can only be read in order, and shuffled minibatches need rows from everywhere in the member for every batch:
    /// one inflation to disk serves every pass (the sortedness check, the batches, any order) instead of re-inflating the
    /// member per pass or per batch. Disk: the member's decompressed size, which the archive declares and the caller's
    /// limit on the total (<see cref="Npz.CheckTotalSize"/>) has bounded before anything is inflated; no more than that is
    /// written. Any other array is returned as it is.
    /// </summary>
    public StoredArray Inflate(TemporaryFiles temporaries)
    {
        if (!Deflated) { return this; }
        using var fs = Npy.OpenForReading(File);
        using var zip = new ZipArchive(fs, ZipArchiveMode.Read, leaveOpen: true);
        var entry = zip.Entries.First(e => e.FullName == Member);
        var (handle, readPath) = temporaries.Create();
        var crc = new System.IO.Hashing.Crc32();
        var buffer = new byte[1 << 20];
        long done = 0;
        try
        {
            using var stream = entry.Open();
            while (done < MemberLength)
            {
                int n = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, MemberLength - done));
                if (n == 0) { break; }
                crc.Append(buffer.AsSpan(0, n));
                try { RandomAccess.Write(handle, buffer.AsSpan(0, n), done); }
                catch (IOException e)
                {
                    throw new RepscopeException($"{File}: member '{Member}' could not be inflated into a temporary file in {Path.GetTempPath()} "
                                                + $"({e.Message}); it needs {MemberLength:N0} bytes free there (TMPDIR chooses the folder)");
                }
                done += n;
            }
        }
        catch (InvalidDataException e)
        {
            throw new RepscopeException($"{File}: member '{Member}' is corrupt: its compressed data cannot be decompressed ({e.Message})");
        }
        if (done < MemberLength)
        {
            throw new RepscopeException($"{File}: member '{Member}' is corrupt: it decompresses to {done:N0} bytes, the archive says {MemberLength:N0}");
        }
        CheckCrc(crc.GetCurrentHashAsUInt32());
        return this with { File = readPath, MemberOffset = -1, Member = null, Deflated = false };
    }

    private static bool Fits(NpyHeader h)
    {
        if (h.DType is not (NpyDType.Float32 or NpyDType.Float64) || h.ByteOrder != NpyByteOrder.Little || h.Shape.Length == 0
            || (h.FortranOrder && h.Shape.Length > 1) || h.Shape[0] == 0) { return false; }
        long features = h.Shape.Skip(1).Aggregate(1L, (a, b) => a * b);
        return features > 0 && features * h.DType.ItemSize() <= int.MaxValue;
    }

    /// <summary>Whether the file at <paramref name="offset"/> starts with the member's first bytes (as the zip reader gives them).</summary>
    private static bool SameBytes(FileStream fs, long offset, ZipArchiveEntry entry)
    {
        Span<byte> fromFile = stackalloc byte[16];
        Span<byte> fromEntry = stackalloc byte[16];
        int n = (int)Math.Min(16, entry.Length);
        using var s = entry.Open();
        if (Npy.ReadUpTo(s, fromEntry[..n]) < n) { return false; }
        return RandomAccess.Read(fs.SafeFileHandle, fromFile[..n], offset) == n && fromFile[..n].SequenceEqual(fromEntry[..n]);
    }

    /// <summary>The whole array, read as <see cref="Npy.Read(string)"/> reads it (for small members such as labels).</summary>
    public NdArray ReadArray()
    {
        if (Deflated)
        {
            using var temporary = new TemporaryFiles();
            return Inflate(temporary).ReadArray();
        }
        using var fs = Npy.OpenForReading(File);
        long start = MemberOffset >= 0 ? MemberOffset : 0;
        fs.Seek(start, SeekOrigin.Begin);
        return Npy.Read(fs, MemberOffset >= 0 ? MemberLength : fs.Length, Source, Name);
    }

    /// <summary>Opens the file for <see cref="ReadRows"/>.</summary>
    public SafeFileHandle Open() =>
        System.IO.File.OpenHandle(File, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);

    /// <summary>
    /// Reads the rows <paramref name="rows"/> (in that order; runs of consecutive rows in one read) into
    /// <paramref name="destination"/>, which holds rows.Length x <see cref="RowBytes"/> bytes.
    /// </summary>
    public void ReadRows(SafeFileHandle file, ReadOnlySpan<long> rows, Span<byte> destination)
    {
        long rowBytes = RowBytes;
        for (int i = 0; i < rows.Length;)
        {
            int run = 1;
            while (i + run < rows.Length && rows[i + run] == rows[i] + run) { run++; }
            ReadRange(file, rows[i], run, destination.Slice((int)(i * rowBytes), (int)(run * rowBytes)));
            i += run;
        }
    }

    /// <summary>Reads <paramref name="count"/> consecutive rows from <paramref name="start"/> into <paramref name="destination"/>.</summary>
    public void ReadRange(SafeFileHandle file, long start, long count, Span<byte> destination)
    {
        if (start < 0 || count < 0 || start + count > Rows) { throw new ArgumentOutOfRangeException(nameof(start), $"rows {start}..{start + count} of {Rows}"); }
        long offset = DataOffset + start * RowBytes;
        int done = 0;
        while (done < destination.Length)
        {
            int n = RandomAccess.Read(file, destination[done..], offset + done);
            if (n == 0) { throw new RepscopeException($"{Source}: truncated: the file ends inside the data"); }
            done += n;
        }
    }

    /// <summary>
    /// The largest magnitude among the float32 or float64 values in <paramref name="data"/> (0 for none), or NaN when
    /// one of them is NaN or infinite: one pass that serves both the finite check and the scale of the Grams.
    /// </summary>
    public double LargestMagnitude(ReadOnlySpan<byte> data)
    {
        if (DType == NpyDType.Float32)
        {
            uint bits = NdArray.LargestMagnitudeBits(MemoryMarshal.Cast<byte, uint>(data), 0x7FFF_FFFFu);
            return bits >= 0x7F80_0000u ? double.NaN : BitConverter.UInt32BitsToSingle(bits);
        }
        ulong wide = NdArray.LargestMagnitudeBits(MemoryMarshal.Cast<byte, ulong>(data), 0x7FFF_FFFF_FFFF_FFFFul);
        return wide >= 0x7FF0_0000_0000_0000ul ? double.NaN : BitConverter.UInt64BitsToDouble(wide);
    }

    /// <summary>
    /// One sequential pass over <paramref name="file"/>: its SHA-256 (what results record of their inputs) and the CRC-32 of
    /// every .npz member in <paramref name="members"/>, checked against the archive's (a mismatch is the same one-line
    /// error as <see cref="Npz.Read"/> gives). <paramref name="cancel"/> stops it between reads.
    /// </summary>
    public static InputFile VerifyAndHash(string file, IEnumerable<StoredArray> members, CancellationToken cancel = default)
    {
        var checks = members.Where(a => a.File == file && a.MemberOffset >= 0).OrderBy(a => a.MemberOffset)
                            .Select(a => (Array: a, Crc: new System.IO.Hashing.Crc32())).ToList();
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        long length = Pass(file, 0, long.MaxValue, cancel, (off, chunk) =>
        {
            sha.AppendData(chunk);
            foreach (var (a, crc) in checks)
            {
                long from = Math.Max(off, a.MemberOffset), to = Math.Min(off + chunk.Length, a.MemberOffset + a.MemberLength);
                if (from < to) { crc.Append(chunk.Slice((int)(from - off), (int)(to - from))); }
            }
        });
        foreach (var (a, crc) in checks) { a.CheckCrc(crc.GetCurrentHashAsUInt32()); }
        return new InputFile(file, length, Convert.ToHexStringLower(sha.GetHashAndReset()));
    }

    /// <summary>
    /// Checks this .npz member's CRC-32 alone (one sequential pass over its bytes, not the whole file): the error of
    /// <see cref="VerifyAndHash"/> when it is corrupt. Nothing to check for a .npy file.
    /// </summary>
    public void VerifyMember(CancellationToken cancel = default)
    {
        if (MemberOffset < 0) { return; }
        var crc = new System.IO.Hashing.Crc32();
        Pass(File, MemberOffset, MemberLength, cancel, (_, chunk) => crc.Append(chunk));
        CheckCrc(crc.GetCurrentHashAsUInt32());
    }

    private void CheckCrc(uint value)
    {
        if (value != MemberCrc)
        {
            throw new RepscopeException($"{File}: member '{Member}' is corrupt: its CRC-32 is {value:x8}, the archive says {MemberCrc:x8}");
        }
    }

    /// <summary>Reads up to <paramref name="count"/> bytes of <paramref name="file"/> from <paramref name="start"/> in 1 MiB chunks; returns the file's length.</summary>
    private static long Pass(string file, long start, long count, CancellationToken cancel, Action<long, ReadOnlySpan<byte>> chunk)
    {
        var buffer = new byte[1 << 20];
        using var handle = System.IO.File.OpenHandle(file, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        long length = RandomAccess.GetLength(handle), end = count == long.MaxValue ? length : Math.Min(length, start + count);
        for (long off = start; off < end;)
        {
            cancel.ThrowIfCancellationRequested();
            int n = RandomAccess.Read(handle, buffer.AsSpan(0, (int)Math.Min(buffer.Length, end - off)), off);
            if (n == 0) { break; }
            chunk(off, buffer.AsSpan(0, n));
            off += n;
        }
        return length;
    }
}

/// <summary>
/// Temporary files that live as long as this object: on Linux unlinked as soon as they are made (read through
/// /proc/self/fd), so that nothing is left behind even when the process is killed; elsewhere deleted when disposed.
/// </summary>
public sealed class TemporaryFiles : IDisposable
{
    private readonly List<SafeFileHandle> _handles = [];

    /// <summary>A new empty file open for writing, and the path to open it again for reading.</summary>
    public (SafeFileHandle Handle, string ReadPath) Create()
    {
        string path = Path.Combine(Path.GetTempPath(), $"repscope-inflated-{Guid.NewGuid():N}.npy");
        bool unlink = OperatingSystem.IsLinux() && Directory.Exists("/proc/self/fd");
        var handle = System.IO.File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read,
                                               unlink ? FileOptions.None : FileOptions.DeleteOnClose);
        _handles.Add(handle);
        if (!unlink) { return (handle, path); }
        System.IO.File.Delete(path);
        return (handle, $"/proc/self/fd/{handle.DangerousGetHandle()}");
    }

    public void Dispose()
    {
        foreach (var h in _handles) { h.Dispose(); }
        _handles.Clear();
    }
}

/// <summary>A stored array's data hold a NaN or an infinity (the one-line error names the array); the array is kept so a caller can check its CRC.</summary>
public sealed class NonFiniteDataException(StoredArray array) : RepscopeException($"{array.Source}: contains NaN or infinite values")
{
    public StoredArray Array { get; } = array;
}
