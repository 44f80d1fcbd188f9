using System.Security.Cryptography;
using System.Text.Json;

namespace Repscope.Runs;

/// <summary>
/// The run directory format (docs/ARCHITECTURE.md, "The run directory"), defined once: the file names, the files a
/// finished run promises, the one reader and writer of run.json (validated in full on both), the state of a folder,
/// and the content hashes that tie the weights and predictions to their run. No tensors, no libtorch: training,
/// reproduce, the error analysis and the cluster code all read runs through this.
/// </summary>
public static class RunFormat
{
    /// <summary>run.json's "format".</summary>
    public const string Version = "repscope-run/1";
    public const string RunFile = "run.json";
    public const string ModelFile = "model.pt";
    public const string CheckpointFile = "checkpoint.pt";
    public const string LabelsFile = "test_labels.npy";
    public const string PredictionsFile = "test_predictions.npy";
    public const string ProbabilitiesFile = "test_probabilities.npy";
    /// <summary>RUN/analysis: where analysis commands write.</summary>
    public const string AnalysisFolder = "analysis";
    /// <summary>The lock a writer holds on the folder (see <see cref="RunLock"/>); not part of the run.</summary>
    public const string LockFile = ".repscope.lock";

    /// <summary>run.json larger than this is not a run description (a run of 10,000 epochs is about 3 MB).</summary>
    public const long MaxRunFileBytes = 64L << 20;

    /// <summary>What a finished run holds besides run.json (the checkpoint may be removed once finished).</summary>
    public static readonly IReadOnlyList<string> FinishedFiles = [ModelFile, LabelsFile, PredictionsFile, ProbabilitiesFile];

    /// <summary>RUN/analysis (not created here).</summary>
    public static string AnalysisPath(string runDir) => Path.Combine(runDir, AnalysisFolder);

    /// <summary>
    /// Reads and validates RUN/run.json (finished or not). A missing folder or file, invalid JSON, a null or
    /// out-of-range field are a RepscopeException naming the file and the field.
    /// </summary>
    public static RunInfo Read(string runDir)
    {
        string dir = Path.GetFullPath(runDir);
        string file = Path.Combine(dir, RunFile);
        if (!Directory.Exists(dir))
        {
            throw new RepscopeException(File.Exists(dir) ? $"{dir}: a file, not a run folder" : $"{dir}: run folder not found");
        }
        if (!File.Exists(file)) { throw new RepscopeException($"{dir}: not a run folder (no {RunFile})"); }
        long length = new FileInfo(file).Length;
        if (length > MaxRunFileBytes)
        {
            throw new RepscopeException($"{file}: {length} bytes, too large for a run description (at most {MaxRunFileBytes})");
        }
        RunInfo? info;
        try
        {
            info = JsonSerializer.Deserialize<RunInfo>(File.ReadAllBytes(file), JsonDefaults.Options);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException or FormatException or OverflowException)
        {
            throw new RepscopeException($"{file}: not valid run JSON ({OneLine(e.Message)})");
        }
        if (info is null) { throw new RepscopeException($"{file}: empty (null) instead of a run description"); }
        RunValidation.Check(info, file);
        return info;
    }

    /// <summary>Validates <paramref name="info"/> and writes RUN/run.json atomically.</summary>
    public static void Write(string runDir, RunInfo info)
    {
        string file = Path.Combine(Path.GetFullPath(runDir), RunFile);
        RunValidation.Check(info, file);
        AtomicFile.WriteJson(file, info);
    }

    /// <summary>
    /// Missing, training, finished or broken (with the reason, a one-line message naming the file); never throws for a
    /// bad run (for listings and planning).
    /// </summary>
    public static RunStatus Inspect(string runDir)
    {
        string dir = Path.GetFullPath(runDir);
        if (!File.Exists(Path.Combine(dir, RunFile))) { return new RunStatus(dir, RunState.Missing, null, null); }
        try
        {
            var info = Read(dir);
            if (info.State != RunState.Finished) { return new RunStatus(dir, RunState.Training, info, null); }
            string? problem = MissingFinishedFiles(dir);
            return problem is null ? new RunStatus(dir, RunState.Finished, info, null) : new RunStatus(dir, RunState.Broken, info, $"{dir}: {problem}");
        }
        catch (Exception e) when (e is RepscopeException or IOException or UnauthorizedAccessException)
        {
            return new RunStatus(dir, RunState.Broken, null, e.Message);
        }
    }

    /// <summary>
    /// Reads a finished run: run.json valid, state finished and every promised file present; otherwise a
    /// RepscopeException naming the folder and what is missing (with how to continue a partial run).
    /// </summary>
    public static RunInfo ReadFinished(string runDir)
    {
        string dir = Path.GetFullPath(runDir);
        var info = Read(dir);
        if (info.State != RunState.Finished)
        {
            throw new RepscopeException($"{dir}: run is not finished (state 'training', {info.Epochs.Count}/{info.Config.Epochs} epochs); continue it with 'repscope train {RepscopeException.Option("out")} {runDir} {RepscopeException.Option("resume")}'");
        }
        if (MissingFinishedFiles(dir) is { } problem) { throw new RepscopeException($"{dir}: {problem}"); }
        return info;
    }

    /// <summary>Every run under <paramref name="root"/> (folders holding run.json, at any depth, not inside a run), sorted by path.</summary>
    public static IReadOnlyList<RunStatus> FindAll(string root)
    {
        string dir = Path.GetFullPath(root);
        if (File.Exists(dir)) { throw new RepscopeException($"{dir}: a file, not a folder of runs"); }
        if (!Directory.Exists(dir)) { throw new RepscopeException($"{dir}: folder not found"); }
        var found = new List<RunStatus>();
        void Walk(string d)
        {
            if (File.Exists(Path.Combine(d, RunFile))) { found.Add(Inspect(d)); return; }
            IEnumerable<string> subs;
            try { subs = Directory.EnumerateDirectories(d).Order(StringComparer.Ordinal).ToList(); }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException) { return; }
            foreach (string s in subs) { Walk(s); }
        }
        Walk(dir);
        return found;
    }

    /// <summary>True when the folder is missing or holds nothing but a writer's lock file and temporary files of killed writers.</summary>
    public static bool IsEmptyFolder(string runDir) =>
        !Directory.Exists(runDir) || Directory.EnumerateFileSystemEntries(runDir)
            .Select(Path.GetFileName)
            .All(name => name == LockFile || AtomicFile.IsTemporaryName(name!));

    /// <summary>The identity a checkpoint of this configuration carries: the seed and a fingerprint of the whole configuration.</summary>
    public static RunIdentity Identity(RunConfig config)
    {
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(config, JsonDefaults.Compact);
        return new RunIdentity(config.Seed, Convert.ToHexStringLower(SHA256.HashData(json))[..16]);
    }

    /// <summary>SHA-256 of a file's bytes, lower-case hex.</summary>
    public static string HashFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>The <see cref="RunInfo.Files"/> entry of each promised file, hashed as it is on disk now.</summary>
    public static IReadOnlyDictionary<string, string> HashFinishedFiles(string runDir) =>
        FinishedFiles.ToDictionary(f => f, f => HashFile(Path.Combine(runDir, f)), StringComparer.Ordinal);

    /// <summary>
    /// The path of RUN/<paramref name="name"/> after checking its content against the hash run.json records for it
    /// (nothing to check in runs written before hashes were recorded). A changed file is a RepscopeException.
    /// </summary>
    public static string VerifiedPath(string runDir, RunInfo info, string name)
    {
        string path = Path.Combine(runDir, name);
        if (!File.Exists(path)) { throw new RepscopeException($"{runDir}: {name} is missing"); }
        if (info.Files.TryGetValue(name, out string? expected))
        {
            string actual = HashFile(path);
            if (!string.Equals(actual, expected, StringComparison.OrdinalIgnoreCase))
            {
                throw new RepscopeException($"{path}: content does not match the SHA-256 that {RunFile} records (damaged, or copied from another run): {actual[..16]}..., expected {expected[..Math.Min(16, expected.Length)]}...");
            }
        }
        return path;
    }

    private static string? MissingFinishedFiles(string dir)
    {
        var missing = FinishedFiles.Where(f => !File.Exists(Path.Combine(dir, f))).ToList();
        return missing.Count == 0 ? null
            : $"run.json says finished but {string.Join(", ", missing)} {(missing.Count == 1 ? "is" : "are")} missing";
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");
}
