namespace Repscope.Runs;

/// <summary>
/// The exclusive right to write a run folder, held for a writer's whole lifetime (training, resuming). It is an
/// OS lock on RUN/.repscope.lock (opened with <see cref="FileShare.None"/>: flock(LOCK_EX) on Linux, a share lock on
/// Windows), so the operating system releases it when the process ends in any way, SIGKILL included: a lock left by
/// a killed writer never blocks the next one. A second writer is refused at once with a RepscopeException naming the folder.
/// The lock file itself stays in the folder; it is not part of the run (see <see cref="RunFormat.IsEmptyFolder"/>).
/// </summary>
public sealed class RunLock : IDisposable
{
    private readonly FileStream _stream;

    private RunLock(string dir, FileStream stream)
    {
        Folder = dir;
        _stream = stream;
    }

    /// <summary>The locked run folder (full path).</summary>
    public string Folder { get; }

    /// <summary>Creates the folder when needed and takes its lock, or throws when another process holds it.</summary>
    public static RunLock Acquire(string runDir)
    {
        string dir = Path.GetFullPath(runDir);
        try
        {
            Directory.CreateDirectory(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RepscopeException($"{dir}: cannot create the run folder ({e.Message})");
        }
        string file = Path.Combine(dir, RunFormat.LockFile);
        try
        {
            var stream = new FileStream(file, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
            try
            {
                stream.SetLength(0);
                var text = System.Text.Encoding.UTF8.GetBytes($"{Environment.ProcessId} {Environment.MachineName} {DateTimeOffset.UtcNow:O}\n");
                stream.Write(text);
                stream.Flush();
            }
            catch (IOException) { } // the note is for people; the lock is what counts
            return new RunLock(dir, stream);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new RepscopeException($"{dir}: cannot lock the run folder for writing ({e.Message})");
        }
        catch (IOException)
        {
            throw new RepscopeException($"{dir}: another process is writing this run (it holds {RunFormat.LockFile}); wait for it to finish, or choose another folder");
        }
    }

    public void Dispose() => _stream.Dispose();
}
