namespace Repscope.Cli;

/// <summary>
/// Checks an output path before any work starts, so that a long computation never ends in "could
/// not write": the parent folder exists (or can be created), the path is not the wrong kind of thing,
/// and the folder is writable.
/// </summary>
internal static class OutputPath
{
    /// <summary>A file to be written (replaced if it exists).</summary>
    public static void CheckFile(string path, string option)
    {
        if (string.IsNullOrWhiteSpace(path)) { throw new RepscopeException($"{option} is required"); }
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full)) { throw new RepscopeException($"{option} {path}: is a folder; give a file name"); }
        CheckFolder(Path.GetDirectoryName(full)!, option, path);
    }

    /// <summary>A folder to write into (created if needed).</summary>
    public static void CheckFolder(string path, string option) => CheckFolder(Path.GetFullPath(path), option, path);

    private static void CheckFolder(string full, string option, string given)
    {
        // The nearest existing ancestor must be a folder we may write in.
        string? existing = full;
        while (existing is not null && !Directory.Exists(existing))
        {
            if (File.Exists(existing)) { throw new RepscopeException($"{option} {given}: {existing} is a file, not a folder"); }
            existing = Path.GetDirectoryName(existing);
        }
        if (existing is null) { throw new RepscopeException($"{option} {given}: no such folder"); }
        string probe = Path.Combine(existing, $".repscope-write-check-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (File.Create(probe, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new RepscopeException($"{option} {given}: cannot write in {existing} ({e.Message})");
        }
    }
}
