using System.Diagnostics;

namespace Repscope.Tests.Cluster;

/// <summary>
/// A one-node Slurm on loopback, started and stopped by the repository's own scripts (tests/slurm/start.sh,
/// stop.sh). <see cref="Unavailable"/> says why it cannot run here (then the test is skipped with that reason).
/// </summary>
internal sealed class LocalSlurm : IDisposable
{
    public string Dir { get; }
    public string Conf => Path.Combine(Dir, "slurm.conf");
    private bool _stopped;

    private LocalSlurm(string dir) => Dir = dir;

    public static string RepoRoot
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            {
                if (File.Exists(Path.Combine(d.FullName, "tests", "slurm", "start.sh"))) { return d.FullName; }
            }
            throw new InvalidOperationException("tests/slurm/start.sh not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>Null when a Slurm can be started here; else the reason it cannot.</summary>
    public static string? Unavailable()
    {
        if (Environment.GetEnvironmentVariable("REPSCOPE_SKIP_SLURM") == "1") { return "REPSCOPE_SKIP_SLURM=1"; }
        if (!OperatingSystem.IsLinux()) { return "Slurm runs on Linux only"; }
        if (Run("id", "-u").Out.Trim() != "0") { return "not root: starting munged (as user munge) and slurmd needs root; ./test as root installs and starts them"; }
        foreach (string b in new[] { "/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged", "/usr/bin/sbatch" })
        {
            if (!File.Exists(b)) { return $"{b} missing: install Debian's slurm-wlm and munge (./test does so as root)"; }
        }
        return null;
    }

    public static LocalSlurm Start()
    {
        var r = Run(Path.Combine(RepoRoot, "tests", "slurm", "start.sh"));
        if (r.Code != 0) { throw new InvalidOperationException($"tests/slurm/start.sh failed ({r.Code}): {r.Err}"); }
        return new LocalSlurm(r.Out.Trim().Split('\n')[^1]);
    }

    /// <summary>Stops every daemon and job by pid; removes the folder unless <paramref name="keep"/> (to read its logs after a failure).</summary>
    public void Stop(bool keep)
    {
        if (_stopped) { return; }
        _stopped = true;
        var r = keep ? Run(Path.Combine(RepoRoot, "tests", "slurm", "stop.sh"), Dir) : Run(Path.Combine(RepoRoot, "tests", "slurm", "stop.sh"), Dir, "--remove");
        if (r.Code != 0) { throw new InvalidOperationException($"tests/slurm/stop.sh failed ({r.Code}): {r.Err}"); }
    }

    public void Dispose() => Stop(keep: true);

    public sealed record Result(int Code, string Out, string Err);

    public static Result Run(string program, params string[] args) => Run(program, args, null);

    public static Result Run(string program, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) { info.ArgumentList.Add(a); }
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) { info.Environment[k] = v; }
        using var p = Process.Start(info)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return new Result(p.ExitCode, output, err.Result);
    }
}
