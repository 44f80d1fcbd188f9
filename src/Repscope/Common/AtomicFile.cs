using System.Text;
using System.Text.Json;

namespace Repscope;

/// <summary>
/// Writes files so that a reader never sees a half-written one: write to a temporary file
/// <c>.NAME.PID.GUID.tmp</c> in the same folder, flush it to disk, then rename over the target (atomic on
/// POSIX file systems). A writer killed with SIGKILL leaves its temporary file behind; the next write of the
/// same file removes such leftovers of processes that no longer run (<see cref="RemoveStaleTemporaries"/>).
/// </summary>
public static partial class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        RemoveStaleTemporaries(dir, Path.GetFileName(full));
        string tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        byte[] copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    public static void WriteAllText(string path, string text) =>
        WriteAllBytes(path, new UTF8Encoding(false).GetBytes(text));

    public static void WriteJson<T>(string path, T value) =>
        WriteAllText(path, JsonSerializer.Serialize(value, JsonDefaults.Options) + "\n");

    /// <summary>True for a name this class gives its temporary files: <c>.NAME.PID.GUID.tmp</c>.</summary>
    public static bool IsTemporaryName(string fileName) => TemporaryName().IsMatch(fileName);

    /// <summary>
    /// Deletes the temporary files in <paramref name="dir"/> (of <paramref name="target"/> only, when given) whose
    /// writing process is no longer running on this machine: leftovers of writers killed before they could clean up.
    /// Files of running processes, including this one, are left alone. Returns the names removed.
    /// </summary>
    public static IReadOnlyList<string> RemoveStaleTemporaries(string dir, string? target = null)
    {
        var removed = new List<string>();
        if (!Directory.Exists(dir)) { return removed; }
        string pattern = target is null ? ".*.tmp" : $".{target}.*.tmp";
        IEnumerable<string> candidates;
        try { candidates = Directory.EnumerateFiles(dir, pattern, SearchOption.TopDirectoryOnly).ToList(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return removed; }
        foreach (string path in candidates)
        {
            string name = Path.GetFileName(path);
            var m = TemporaryName().Match(name);
            if (!m.Success || (target is not null && m.Groups["target"].Value != target)) { continue; }
            if (!int.TryParse(m.Groups["pid"].ValueSpan, out int pid) || IsRunning(pid)) { continue; }
            try
            {
                File.Delete(path);
                removed.Add(name);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return removed;
    }

    private static bool IsRunning(int pid)
    {
        if (pid == Environment.ProcessId) { return true; }
        if (OperatingSystem.IsLinux()) { return Directory.Exists($"/proc/{pid}"); }
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^\.(?<target>.+)\.(?<pid>[0-9]{1,10})\.[0-9a-f]{32}\.tmp$")]
    private static partial System.Text.RegularExpressions.Regex TemporaryName();
}
