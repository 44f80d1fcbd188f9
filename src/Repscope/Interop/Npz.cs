using System.IO.Compression;

namespace Repscope.Interop;

/// <summary>
/// numpy's .npz: a zip archive of .npy members (np.savez stores them, np.savez_compressed deflates
/// them). Arrays keep the archive's member order and are named after their members without ".npy".
/// </summary>
public static class Npz
{
    /// <summary>Every array in the archive, in member order. An archive without arrays is an error.</summary>
    public static IReadOnlyList<NdArray> Read(string path)
    {
        using var fs = Npy.OpenForReading(path);
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
            var arrays = new List<NdArray>(zip.Entries.Count);
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
                try
                {
                    using var stream = entry.Open();
                    arrays.Add(Npy.Read(stream, entry.Length, source, name));
                }
                catch (InvalidDataException e)
                {
                    throw new RepscopeException($"{source} is corrupt ({e.Message})");
                }
            }
            if (arrays.Count == 0)
            {
                throw new RepscopeException($"{path}: the archive holds no arrays");
            }
            return arrays;
        }
    }

    /// <summary>
    /// Writes the arrays, in order, as members "name.npy" of a zip archive (deflated when
    /// <paramref name="compress"/>, else stored as np.savez does), atomically. Names must be
    /// non-empty and distinct.
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
        var level = compress ? CompressionLevel.Optimal : CompressionLevel.NoCompression;
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
