using System.IO.Compression;

namespace Repscope.Interop;

/// <summary>
/// Writes an .npz whose arrays arrive a few rows at a time and interleaved (array 1 rows [0, b), array 2 rows [0, b),
/// ..., array 1 rows [b, 2b), ...), without holding them: each array's rows are appended to its own temporary file in
/// a folder beside the output, and <see cref="Complete"/> writes the archive from those files, each member with its
/// final shape [rows, ...], in the order the arrays first appeared, then deletes them. Memory: one chunk plus the
/// streams' buffers, whatever the number of rows. Members are deflated (fastest level) like <see cref="Npz.Write"/>
/// by default, or stored as np.savez does. The archive appears atomically; nothing is left behind on failure. A process
/// killed before it could clean up leaves its folder (.NAME.npz.HOST.PID.GUID.parts); the next writer of the same
/// output removes the folders of processes of this host that no longer run, so they do not accumulate.
/// </summary>
public sealed partial class NpzStreamWriter : IDisposable
{
    private sealed record Member(string Name, NpyDType DType, long[] RowShape, FileStream Part)
    {
        public long Rows { get; set; }
    }

    private readonly string _path;
    private readonly bool _compress;
    private readonly string _parts;
    private readonly List<Member> _members = [];
    private readonly Dictionary<string, Member> _byName = new(StringComparer.Ordinal);
    private bool _done;

    public NpzStreamWriter(string path, bool compress = true)
    {
        _path = Path.GetFullPath(path);
        _compress = compress;
        string folder = Path.GetDirectoryName(_path)!;
        RemoveAbandonedParts(folder, Path.GetFileName(_path));
        _parts = Path.Combine(folder, $".{Path.GetFileName(_path)}.{Host}.{Environment.ProcessId}.{Guid.NewGuid():N}.parts");
        Directory.CreateDirectory(_parts);
    }

    // The host in the folder's name: on a file system shared by several machines (a cluster), a process id means
    // something only on the machine that wrote it.
    private static readonly string Host = InvalidHostCharacters().Replace(Environment.MachineName, "_");

    /// <summary>
    /// Removes the temporary folders of writers of <paramref name="file"/> in <paramref name="folder"/> whose process
    /// (on this host) no longer runs: what an export killed before it could clean up left behind. Folders of running
    /// processes, of other hosts, and anything else are left alone; one that cannot be removed is skipped.
    /// </summary>
    public static void RemoveAbandonedParts(string folder, string file)
    {
        if (!Directory.Exists(folder)) { return; }
        string mine = "." + file + "." + Host + ".";
        foreach (var dir in Directory.EnumerateDirectories(folder, "." + file + ".*.parts"))
        {
            string name = Path.GetFileName(dir);
            if (!name.StartsWith(mine, StringComparison.Ordinal)) { continue; }
            var m = PidAndGuid().Match(name[mine.Length..]);
            if (!m.Success || !int.TryParse(m.Groups[1].Value, out int pid) || Running(pid)) { continue; }
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static bool Running(int pid)
    {
        if (pid == Environment.ProcessId) { return true; }
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }        // no such process
        catch (InvalidOperationException) { return false; }
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^([0-9]+)\.[0-9a-f]{32}\.parts$")]
    private static partial System.Text.RegularExpressions.Regex PidAndGuid();

    [System.Text.RegularExpressions.GeneratedRegex(@"[^A-Za-z0-9_\-]")]
    private static partial System.Text.RegularExpressions.Regex InvalidHostCharacters();

    /// <summary>
    /// Appends <paramref name="rows"/> rows to the array <paramref name="name"/> (little-endian bytes, C order, each row
    /// of shape <paramref name="rowShape"/>). The first append of a name declares it; later ones must agree on
    /// element type and row shape.
    /// </summary>
    public void Append(string name, NpyDType dtype, long[] rowShape, long rows, ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(_done, this);
        if (string.IsNullOrEmpty(name)) { throw new ArgumentException($"{_path}: an array has an empty name", nameof(name)); }
        long rowBytes = rowShape.Aggregate(1L, (a, b) => a * b) * dtype.ItemSize();
        if (rows < 0 || data.Length != rows * rowBytes)
        {
            throw new ArgumentException($"{_path}: '{name}': {data.Length} bytes for {rows} rows of {rowBytes} bytes", nameof(data));
        }
        if (!_byName.TryGetValue(name, out var m))
        {
            var part = new FileStream(Path.Combine(_parts, $"{_members.Count}.bin"), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16);
            m = new Member(name, dtype, rowShape.ToArray(), part);
            _members.Add(m);
            _byName[name] = m;
        }
        else if (m.DType != dtype || !m.RowShape.SequenceEqual(rowShape))
        {
            throw new ArgumentException($"{_path}: '{name}' changed from {m.DType} rows {NdArray.ShapeText(m.RowShape)} to {dtype} rows {NdArray.ShapeText(rowShape)}", nameof(rowShape));
        }
        m.Part.Write(data);
        m.Rows += rows;
    }

    /// <summary>Writes the archive (member NAME.npy per array, shape [rows, ...row shape]) and removes the temporary files.</summary>
    public void Complete()
    {
        ObjectDisposedException.ThrowIf(_done, this);
        var level = _compress ? CompressionLevel.Fastest : CompressionLevel.NoCompression;
        AtomicFile.Write(_path, s =>
        {
            using var zip = new ZipArchive(s, ZipArchiveMode.Create, leaveOpen: true);
            foreach (var m in _members)
            {
                var entry = zip.CreateEntry(m.Name + ".npy", level);
                entry.LastWriteTime = new DateTimeOffset(1980, 1, 1, 0, 0, 0, TimeSpan.Zero);  // reproducible bytes, as Npz.Write
                using var es = entry.Open();
                var header = new NpyHeader(m.DType, NpyByteOrder.Little, false, [m.Rows, .. m.RowShape]);
                es.Write(header.Encode(header.Format().Length + 12 <= ushort.MaxValue ? 1 : 2));
                m.Part.Position = 0;
                m.Part.CopyTo(es, 1 << 20);
            }
        });
        Dispose();
    }

    /// <summary>Deletes the temporary files (an archive not completed is not written).</summary>
    public void Dispose()
    {
        if (_done) { return; }
        _done = true;
        foreach (var m in _members) { m.Part.Dispose(); }
        try { Directory.Delete(_parts, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
