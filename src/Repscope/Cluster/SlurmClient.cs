using System.Diagnostics;
using System.Globalization;

namespace Repscope.Cluster;

/// <summary>What a command printed and how it ended.</summary>
public sealed record CommandResult(int ExitCode, string Out, string Err);

/// <summary>Runs an external program to completion (the real one starts a <see cref="Process"/>; tests record the calls).</summary>
public interface ICommandRunner
{
    CommandResult Run(string program, IReadOnlyList<string> arguments);
}

/// <summary>Starts the program with an argument list (no shell), waits for it, returns what it printed.</summary>
public sealed class ProcessRunner : ICommandRunner
{
    public static readonly ProcessRunner Instance = new();

    public CommandResult Run(string program, IReadOnlyList<string> arguments)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in arguments) { info.ArgumentList.Add(a); }
        Process process;
        try { process = Process.Start(info) ?? throw new RepscopeException($"{program}: could not be started"); }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new RepscopeException($"{program}: cannot run it ({e.Message}); is Slurm installed and on PATH?");
        }
        using (process)
        {
            var err = process.StandardError.ReadToEndAsync();
            string output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return new CommandResult(process.ExitCode, output, err.Result);
        }
    }
}

/// <summary>A job's (or an array task's) state as Slurm names it: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, ...</summary>
/// <param name="Id">"123" for a job, "123_4" for task 4 of array job 123.</param>
public sealed record JobState(string Id, string State, string Reason)
{
    /// <summary>Still to run or running (not a final state).</summary>
    public bool IsActive => State is "PENDING" or "RUNNING" or "REQUEUED" or "CONFIGURING" or "COMPLETING" or "SUSPENDED"
                            or "RESIZING" or "REQUEUE_HOLD" or "REQUEUE_FED" or "SIGNALING" or "STAGE_OUT" or "STOPPED" or "RESV_DEL_HOLD";
}

/// <summary>
/// Slurm's command-line clients, called as a user would: <c>sbatch --parsable</c> to submit, <c>squeue</c> (and
/// <c>sacct</c> where accounting is enabled) for states, <c>scancel</c> and <c>scontrol requeue</c>. They find
/// the cluster as a user's shell would (SLURM_CONF or /etc/slurm/slurm.conf).
/// </summary>
public sealed class SlurmClient(ICommandRunner? runner = null)
{
    private readonly ICommandRunner _runner = runner ?? ProcessRunner.Instance;

    /// <summary>Submits <paramref name="script"/> with the given sbatch options and returns the job id.</summary>
    public string Submit(string script, IReadOnlyList<string> sbatchArguments)
    {
        var result = Call("sbatch", ["--parsable", .. sbatchArguments, script]);
        return ParseSubmitted(result.Out, script);
    }

    /// <summary>The job id in <c>sbatch --parsable</c>'s output: "123" or "123;cluster".</summary>
    public static string ParseSubmitted(string output, string script)
    {
        string line = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
        string id = line.Split(';')[0];
        if (id.Length == 0 || !id.All(char.IsAsciiDigit))
        {
            throw new RepscopeException($"{script}: sbatch printed no job id (got '{output.Trim()}')");
        }
        return id;
    }

    /// <summary>
    /// The states of the given jobs, one entry per job or array task, as far as Slurm still knows them: squeue
    /// while the controller holds them (MinJobAge after they end), then sacct when accounting is enabled.
    /// A job neither knows is left out.
    /// </summary>
    public IReadOnlyList<JobState> States(IEnumerable<string> jobIds)
    {
        var states = new List<JobState>();
        foreach (string id in jobIds.Distinct())
        {
            var q = _runner.Run("squeue", ["-h", "-r", "-t", "all", "-o", "%i|%T|%r", "-j", id]);
            var parsed = q.ExitCode == 0 ? ParseSqueue(q.Out) : [];
            if (parsed.Count == 0)
            {
                var a = _runner.Run("sacct", ["-n", "-P", "-X", "-o", "JobID,State", "-j", id]);
                if (a.ExitCode == 0) { parsed = ParseSacct(a.Out); }
            }
            states.AddRange(parsed);
        }
        return states;
    }

    /// <summary>Parses <c>squeue -h -r -o "%i|%T|%r"</c>.</summary>
    public static IReadOnlyList<JobState> ParseSqueue(string output) =>
        [.. Lines(output).Select(l => l.Split('|')).Where(f => f.Length >= 2).Select(f => new JobState(f[0], f[1], f.Length > 2 ? f[2] : ""))];

    /// <summary>Parses <c>sacct -n -P -X -o JobID,State</c> ("CANCELLED by 0" becomes CANCELLED).</summary>
    public static IReadOnlyList<JobState> ParseSacct(string output) =>
        [.. Lines(output).Select(l => l.Split('|')).Where(f => f.Length >= 2)
            .Select(f => new JobState(f[0], f[1].Split(' ')[0], ""))];

    public void Cancel(string jobId) => Call("scancel", [jobId]);

    /// <summary>Requeues a job or array task ("123_4"): a running one is stopped and queued again, as a preemption would.</summary>
    public void Requeue(string jobId) => Call("scontrol", ["requeue", jobId]);

    /// <summary>Lets a job start as soon as resources allow (a requeued job otherwise waits about two minutes).</summary>
    public void StartNow(string jobId) => Call("scontrol", ["update", $"JobId={jobId}", "StartTime=now"]);

    private CommandResult Call(string program, IReadOnlyList<string> arguments)
    {
        var r = _runner.Run(program, arguments);
        if (r.ExitCode != 0)
        {
            string why = (r.Err.Trim().Length > 0 ? r.Err : r.Out).Trim().Split('\n')[0];
            throw new RepscopeException(string.Create(CultureInfo.InvariantCulture, $"{program} {string.Join(' ', arguments)}: exit code {r.ExitCode}: {why}"));
        }
        return r;
    }

    private static IEnumerable<string> Lines(string s) => s.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
