using System.IO.Compression;

namespace Repscope.Interop;

/// <summary>
/// numpy's .npz: a zip archive of .npy members (np.savez stores them, np.savez_compressed deflates
/// them). Arrays keep the archive's member order and are named after their members without ".npy".
/// </summary>
public static class Npz
{
    /// <summary>
    /// The default limit on the total size of an archive's members once decompressed (all members together): 4 GiB.
    /// A few kilobytes of deflated zeros can claim gigabytes, so the sizes the archive declares are added up and
    /// checked before any member is decompressed; a trusted larger archive needs a larger limit (CLI: --max-npz-bytes).
    /// </summary>
    public const long DefaultMaxTotalBytes = 4L << 30;

    /// <summary>Every array in the archive, in member order. An archive without arrays is an error.</summary>
    public static IReadOnlyList<NdArray> Read(string path, long maxNpzBytes = DefaultMaxTotalBytes) => Enumerate(path, maxNpzBytes: maxNpzBytes).ToList();

    /// <summary>
    /// The arrays one at a time, in member order, each read when the enumeration reaches it (so that
    /// a caller can convert and drop each before the next is loaded). With
    /// <paramref name="releaseBetweenMembers"/>, a full garbage collection runs before each next
    /// member is read, so that a caller that keeps only a native copy (a tensor) of each array holds
    /// at most one managed array at a time: peak memory = the converted arrays + one array.
    /// An archive whose members add up to more than <paramref name="maxNpzBytes"/> decompressed is refused
    /// before anything is decompressed (each member is read only up to its declared size).
    /// </summary>
    public static IEnumerable<NdArray> Enumerate(string path, bool releaseBetweenMembers = false, long maxNpzBytes = DefaultMaxTotalBytes)
    {
        foreach (var array in Members(path, Npy.Read, checkCrc: true, maxNpzBytes))
        {
            yield return array;
            if (releaseBetweenMembers)
            {
                GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            }
        }
    }

    /// <summary>Name, dtype and shape of every member from its header, without loading the data.</summary>
    public static IReadOnlyList<NpyInfo> ReadInfo(string path) => Members(path, Npy.ReadInfo, checkCrc: false, long.MaxValue).ToList();

    private static IEnumerable<T> Members<T>(string path, Func<Stream, long, string, string, T> read, bool checkCrc, long maxNpzBytes)
    {
        if (maxNpzBytes < 1) { throw new ArgumentOutOfRangeException(nameof(maxNpzBytes), maxNpzBytes, "must be positive"); }
        using var fs = Npy.OpenForReading(path);
        FileKind.RefuseNonZip(fs, path);
        ZipArchive zip;
        try
        {
            zip = new ZipArchive(fs, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (InvalidDataException e)
        {
            throw new RepscopeException($"{path}: not a valid .npz file (corrupt, truncated or not a zip archive: {e.Message})");
        }
        using (zip)
        {
            if (FileKind.IsPyTorchZip(zip)) { throw new RepscopeException($"{path}: {FileKind.PyTorchFile}"); }
            CheckTotalSize(zip, path, maxNpzBytes);
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var entry in zip.Entries)
            {
                string member = entry.FullName;
                string source = $"{path}: member '{member}'";
                if (member.EndsWith('/'))
                {
                    throw new RepscopeException($"{source} is a folder, not a .npy array");
                }
                string name = member.EndsWith(".npy", StringComparison.Ordinal) ? member[..^4] : member;
                if (!names.Add(name))
                {
                    throw new RepscopeException($"{path}: holds two arrays named '{name}'");
                }
                T item;
                try
                {
                    using var stream = entry.Open();
                    if (checkCrc)
                    {
                        // .NET does not check the CRC-32 of members; numpy (Python's zipfile) does.
                        using var crc = new Crc32Stream(stream);
                        item = read(crc, entry.Length, source, name);
                        if (crc.Crc != entry.Crc32)
                        {
                            throw new RepscopeException($"{source} is corrupt: its CRC-32 is {crc.Crc:x8}, the archive says {entry.Crc32:x8}");
                        }
                    }
                    else
                    {
                        item = read(stream, entry.Length, source, name);
                    }
                }
                catch (InvalidDataException e)
                {
                    throw new RepscopeException($"{source} is corrupt: its compressed data cannot be decompressed ({e.Message})");
                }
                yield return item;
            }
            if (names.Count == 0)
            {
                throw new RepscopeException($"{path}: the archive holds no arrays");
            }
        }
    }

    /// <summary>The sizes the central directory declares for the members, added up, against the limit.</summary>
    internal static void CheckTotalSize(ZipArchive zip, string path, long maxNpzBytes)
    {
        long total = 0;
        foreach (var entry in zip.Entries)
        {
            total = entry.Length > long.MaxValue - total ? long.MaxValue : total + entry.Length;
        }
        if (total > maxNpzBytes)
        {
            throw new RepscopeException($"{path}: its members decompress to {Size(total)}, more than the limit of {Size(maxNpzBytes)} "
                                        + "for a whole archive (a zip bomb, or a large trusted file: raise the limit, " + RepscopeException.Option("maxNpzBytes") + ")");
        }
    }

    /// <summary>A byte count as bytes and GiB.</summary>
    public static string Size(long bytes) => FormattableString.Invariant($"{bytes:N0} bytes ({bytes / (double)(1L << 30):0.##} GiB)");

    /// <summary>
    /// Writes the arrays, in order, as members "name.npy" of a zip archive, atomically: deflated
    /// (fastest level: float activations hardly compress) when <paramref name="compress"/>, else
    /// stored as np.savez does. Names must be non-empty and distinct.
    /// </summary>
    public static void Write(string path, IEnumerable<NdArray> arrays, bool compress = true)
    {
        ArgumentNullException.ThrowIfNull(arrays);
        var list = arrays.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var a in list)
        {
            if (string.IsNullOrEmpty(a.Name)) { throw new ArgumentException($"{path}: an array has an empty name", nameof(arrays)); }
            if (!names.Add(a.Name)) { throw new ArgumentException($"{path}: two arrays are named '{a.Name}'", nameof(arrays)); }
        }
        var level = compress ? CompressionLevel.Fastest : CompressionLevel.NoCompression;
        AtomicFile.Write(path, s =>
        {
            using var zip = new ZipArchive(s, ZipArchiveMode.Create, leaveOpen: true);
            foreach (var a in list)
            {
                var entry = zip.CreateEntry(a.Name + ".npy", level);
                entry.LastWriteTime = new DateTimeOffset(1980, 1, 1, 0, 0, 0, TimeSpan.Zero);  // reproducible bytes
                using var es = entry.Open();
                Npy.Write(es, a);
            }
        });
    }
}
