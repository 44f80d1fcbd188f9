using System.Globalization;
using System.Text;
using Repscope.Reproduce;
using Repscope.Runs;

namespace Repscope.Cluster;

/// <summary>Resources every job asks for (sbatch options; null: the cluster's default).</summary>
/// <param name="Time">Time limit per task, e.g. "04:00:00".</param>
/// <param name="CpusPerTask">CPUs per task. Training uses the grid's fixed thread count (<see cref="TrainingSettings.Threads"/>),
/// whatever the task gets, so that a run trained here equals the same run trained by <see cref="Reproducer"/>.</param>
/// <param name="Memory">Memory per node, in sbatch's syntax ("8G").</param>
/// <param name="ExtraArguments">More sbatch options, written into every script as they are (e.g. "--account=abc").</param>
public sealed record SlurmJobOptions(string? Partition = null, string? Time = null, int CpusPerTask = SlurmJobOptions.DefaultCpusPerTask,
                                     string? Memory = null, IReadOnlyList<string>? ExtraArguments = null)
{
    public const int DefaultCpusPerTask = 1;

    public void Validate()
    {
        if (CpusPerTask < 1) { throw new RepscopeException($"cpusPerTask must be at least 1, got {CpusPerTask}"); }
        if (Time is { } t && !System.Text.RegularExpressions.Regex.IsMatch(t, @"^(\d+-)?\d+(:\d{1,2}){0,2}$"))
        {
            throw new RepscopeException($"time '{t}' is not a Slurm time limit (MM, HH:MM:SS or D-HH:MM:SS)");
        }
        foreach (string? s in new[] { Partition, Memory }.Concat(ExtraArguments ?? []))
        {
            if (s is not null && (s.Length == 0 || s.Any(char.IsControl))) { throw new RepscopeException($"sbatch option '{s}' is empty or holds a control character"); }
        }
    }
}

/// <summary>
/// The command lines the jobs run (the caller, the CLI, knows the flags): how to start repscope, how to train a
/// run from scratch and resume it, the analyses of one run, and the report.
/// </summary>
public sealed record GridCommands(
    IReadOnlyList<string> Repscope,
    Func<RunSpec, string, IReadOnlyList<string>> Train,
    Func<string, IReadOnlyList<string>> Resume,
    Func<string, IReadOnlyList<string>> AnalyseRun,
    IReadOnlyList<string> Report);

/// <summary>What one <see cref="SlurmGrid.Submit"/> did. Job ids are null for a step with nothing to do.</summary>
public sealed record GridSubmission(string? TrainJob, string? AnalysesJob, string? ReportJob,
                                    IReadOnlyList<RunSpec> Trained, IReadOnlyList<RunSpec> Analysed, int Reused, string ScriptsDir)
{
    public IEnumerable<string> Jobs => new[] { TrainJob, AnalysesJob, ReportJob }.OfType<string>();
}

/// <summary>
/// The reproduction grid as Slurm jobs: one array trains every unfinished run (one task per run, requeueable,
/// resuming from its checkpoint), one array runs the per-run analyses after it, one job writes the report after
/// those. Slurm schedules; this class only writes batch scripts into DIR/slurm/, submits them with sbatch, and
/// reads the run directories to decide what is missing.
/// </summary>
/// <remarks>
/// Dependencies: the analyses wait with <c>afterany</c> for the whole training array, so one run whose training
/// failed does not hold back the analyses of all the others (its own analysis task fails at once, naming it);
/// the report waits with <c>afterok</c> for every analysis and is cancelled when one failed
/// (<c>--kill-on-invalid-dep=yes</c>), so a report is never written over holes. A requeued (preempted) training
/// task is not finished, so the analyses keep waiting for it.
/// </remarks>
public sealed class SlurmGrid(SlurmClient client)
{
    public const string Folder = "slurm";
    public const string PlanFileName = "plan.json";
    public const string JobsFile = "jobs.json";
    public const string FindingsFile = "findings.json";

    public static string ScriptsDir(string outDir) => Path.Combine(Path.GetFullPath(outDir), Folder);

    /// <summary>Runs of the plan that are not finished (missing or partial), in plan order.</summary>
    public static IReadOnlyList<RunSpec> Unfinished(ExperimentPlan plan, string outDir) =>
        [.. plan.Runs.Where(r => PlannedRun.Inspect(RunDir(outDir, r), r) != RunState.Finished)];

    /// <summary>Runs that have per-run analyses in the plan (within-model CKA, probes and pruning), in plan order.</summary>
    public static IReadOnlyList<RunSpec> AnalysedRuns(ExperimentPlan plan) => [.. plan.LayerRuns.Concat(plan.ProbeAndPrune).Distinct()];

    public static string RunDir(string outDir, RunSpec r) => Path.Combine(Path.GetFullPath(outDir), Reproducer.RunsFolder, r.Name);

    /// <summary>The analysis files <paramref name="r"/>'s per-run analyses write (RUN/analysis/...).</summary>
    public static IReadOnlyList<string> AnalysisFiles(ExperimentPlan plan, string outDir, RunSpec r)
    {
        string folder = RunFormat.AnalysisPath(RunDir(outDir, r));
        var files = new List<string>();
        // What LibraryBackend caches: the within-model map with and without PC1 (pc.json), the probes and the deletions.
        if (plan.LayerRuns.Contains(r)) { files.Add(Path.Combine(folder, Workflows.PcWorkflow.JsonFile)); }
        if (plan.ProbeAndPrune.Contains(r))
        {
            files.Add(Path.Combine(folder, Workflows.ProbeWorkflow.JsonFile));
            files.Add(Path.Combine(folder, Workflows.PruneWorkflow.JsonFile));
        }
        return files;
    }

    /// <summary>Whether the run's analyses are on disk and newer than its weights (the backend checks their settings when it reads them).</summary>
    public static bool Analysed(ExperimentPlan plan, string outDir, RunSpec r)
    {
        string model = Path.Combine(RunDir(outDir, r), RunFormat.ModelFile);
        return File.Exists(model) && AnalysisFiles(plan, outDir, r).All(f => File.Exists(f) && File.GetLastWriteTimeUtc(f) >= File.GetLastWriteTimeUtc(model));
    }

    /// <summary>
    /// Jobs of an earlier submission into <paramref name="outDir"/> (DIR/slurm/jobs.json) that are still queued or
    /// running. Empty when there was none, or when Slurm's clients cannot be run here (a results folder copied
    /// off the cluster).
    /// </summary>
    /// <param name="ownJob">The Slurm job this process runs in (SLURM_JOB_ID), if any: the report job checks too, and is not in its own way.</param>
    public IReadOnlyList<JobState> ActiveJobs(string outDir, string? ownJob = null)
    {
        string file = Path.Combine(ScriptsDir(outDir), JobsFile);
        if (!File.Exists(file)) { return []; }
        SubmittedJobs? jobs;
        try { jobs = System.Text.Json.JsonSerializer.Deserialize<SubmittedJobs>(File.ReadAllText(file), JsonDefaults.Options); }
        catch (System.Text.Json.JsonException e) { throw new RepscopeException($"{file}: not valid JSON ({e.Message}); delete it if no jobs of it are queued"); }
        if (jobs?.Jobs is not { Count: > 0 } ids) { return []; }
        try { return [.. client.States(ids).Where(s => s.IsActive && s.Id != ownJob)]; }
        catch (RepscopeException) { return []; }
    }

    /// <summary>Refuses to go on while jobs of an earlier submission into <paramref name="outDir"/> are queued or running (they write the same runs).</summary>
    public void EnsureNoActiveJobs(string outDir, string? ownJob = null)
    {
        var active = ActiveJobs(outDir, ownJob);
        if (active.Count == 0) { return; }
        var ids = active.Select(a => a.Id.Split('_')[0]).Distinct().ToList();
        throw new RepscopeException($"{Path.Combine(ScriptsDir(outDir), JobsFile)}: jobs {string.Join(", ", ids)} of an earlier submission are still queued or running "
            + $"({string.Join(", ", active.Take(4).Select(a => $"{a.Id} {a.State}"))}{(active.Count > 4 ? ", ..." : "")}); "
            + $"wait for them (squeue -j {string.Join(',', ids)}) or cancel them (scancel {string.Join(' ', ids)}), then run again");
    }

    /// <summary>
    /// Writes the scripts for what is missing in <paramref name="outDir"/> and submits them. Nothing is submitted
    /// when every run is trained and analysed and the findings exist.
    /// </summary>
    public GridSubmission Submit(ExperimentPlan plan, string outDir, SlurmJobOptions options, GridCommands commands)
    {
        options.Validate();
        plan.Validate();
        outDir = Path.GetFullPath(outDir);
        EnsureNoActiveJobs(outDir);
        var toTrain = Unfinished(plan, outDir);
        var toAnalyse = AnalysedRuns(plan).Where(r => toTrain.Contains(r) || !Analysed(plan, outDir, r)).ToList();
        string scripts = ScriptsDir(outDir);
        bool reportMissing = toTrain.Count > 0 || toAnalyse.Count > 0 || !File.Exists(Path.Combine(outDir, FindingsFile));
        int reused = plan.Runs.Count - toTrain.Count;
        if (!reportMissing) { return new GridSubmission(null, null, null, [], [], reused, scripts); }

        Directory.CreateDirectory(Path.Combine(scripts, "logs"));
        var s = new Scripts(scripts, options, commands);
        string? train = null, analyses = null;
        var submitLines = new List<string>();
        if (toTrain.Count > 0)
        {
            string path = s.WriteTrain(toTrain, r => RunDir(outDir, r));
            train = client.Submit(path, []);
            submitLines.Add($"train=$(sbatch --parsable {Path.GetFileName(path)})");
        }
        if (toAnalyse.Count > 0)
        {
            string path = s.WriteAnalyses(toAnalyse);
            analyses = client.Submit(path, train is null ? [] : [$"--dependency=afterany:{train}"]);
            submitLines.Add($"analyses=$(sbatch --parsable {(train is null ? "" : "--dependency=afterany:${train%%;*} ")}{Path.GetFileName(path)})");
        }
        string reportScript = s.WriteReport();
        string? after = analyses ?? train;
        string? afterVar = analyses is not null ? "analyses" : train is not null ? "train" : null;
        // Without analyses the report waits for the training alone, and needs every task of it to succeed.
        string report = client.Submit(reportScript, after is null ? [] : ["--kill-on-invalid-dep=yes", $"--dependency=afterok:{after}"]);
        submitLines.Add($"report=$(sbatch --parsable {(afterVar is null ? "" : $"--kill-on-invalid-dep=yes --dependency=afterok:${{{afterVar}%%;*}} ")}{Path.GetFileName(reportScript)})");
        s.WriteSubmit(submitLines);

        AtomicFile.WriteJson(Path.Combine(scripts, JobsFile), new SubmittedJobs(
            [.. new[] { train, analyses, report }.OfType<string>()], train, analyses, report,
            [.. toTrain.Select(r => r.Name)], [.. toAnalyse.Select(r => r.Name)], DateTimeOffset.UtcNow));
        return new GridSubmission(train, analyses, report, toTrain, toAnalyse, reused, scripts);
    }

    /// <summary>DIR/slurm/jobs.json: what the last submission submitted.</summary>
    public sealed record SubmittedJobs(IReadOnlyList<string> Jobs, string? Train, string? Analyses, string? Report,
                                       IReadOnlyList<string>? TrainedRuns, IReadOnlyList<string>? AnalysedRuns, DateTimeOffset Submitted);

    /// <summary>Writes the batch scripts: bash, one #SBATCH line per option, one case per array task.</summary>
    private sealed class Scripts(string dir, SlurmJobOptions options, GridCommands commands)
    {
        public string WriteTrain(IReadOnlyList<RunSpec> runs, Func<RunSpec, string> runDir)
        {
            var b = Header("repscope-train", "Trains the unfinished runs of the grid, one array task per run. A task that is requeued\n"
                + "# (preempted, or by hand: scontrol requeue JOB_TASK) continues from the run's last checkpoint.",
                "train_%A_%a.log", array: runs.Count, requeue: true);
            b.AppendLine("case \"${SLURM_ARRAY_TASK_ID:?set SLURM_ARRAY_TASK_ID to the task to run}\" in");
            for (int i = 0; i < runs.Count; i++)
            {
                string dir = runDir(runs[i]);
                b.AppendLine($"  {i}) # {runs[i].Architecture}, {runs[i].DataLabel}, {runs[i].Epochs} epoch{(runs[i].Epochs == 1 ? "" : "s")}, seed {runs[i].Seed}");
                b.AppendLine($"     run={Quote(dir)}");
                b.AppendLine($"     train=({Join(commands.Train(runs[i], dir))}) ;;");
            }
            b.AppendLine("  *) echo \"no task $SLURM_ARRAY_TASK_ID in this array\" >&2; exit 2 ;;");
            b.AppendLine("esac");
            b.AppendLine("echo \"task $SLURM_ARRAY_TASK_ID: $run (restart ${SLURM_RESTART_COUNT:-0}) on $(hostname) at $(date -u +%FT%TZ)\"");
            b.AppendLine("if [[ -f \"$run/run.json\" ]]; then");
            b.AppendLine($"  exec \"${{repscope[@]}}\" {Join(commands.Resume("$run"))}");
            b.AppendLine("else");
            b.AppendLine("  exec \"${repscope[@]}\" \"${train[@]}\"");
            b.AppendLine("fi");
            return Write("train.sbatch", b);
        }

        public string WriteAnalyses(IReadOnlyList<RunSpec> runs)
        {
            var b = Header("repscope-analyses", "The per-run analyses (within-model CKA, probes, pruning), one array task per run;\n"
                + "# a task whose run is not finished fails at once and names it.", "analyses_%A_%a.log", array: runs.Count, requeue: true);
            b.AppendLine("case \"${SLURM_ARRAY_TASK_ID:?set SLURM_ARRAY_TASK_ID to the task to run}\" in");
            for (int i = 0; i < runs.Count; i++) { b.AppendLine($"  {i}) name={Quote(runs[i].Name)} ;;"); }
            b.AppendLine("  *) echo \"no task $SLURM_ARRAY_TASK_ID in this array\" >&2; exit 2 ;;");
            b.AppendLine("esac");
            b.AppendLine("echo \"task $SLURM_ARRAY_TASK_ID: analyses of $name (restart ${SLURM_RESTART_COUNT:-0}) on $(hostname) at $(date -u +%FT%TZ)\"");
            b.AppendLine($"exec \"${{repscope[@]}}\" {Join(commands.AnalyseRun("$name"))}");
            return Write("analyses.sbatch", b);
        }

        public string WriteReport()
        {
            var b = Header("repscope-report", "The cross-run analyses (seed pair, errors), the findings and report.html, once every\n"
                + "# run is trained and analysed.", "report_%j.log", array: 0, requeue: true);
            b.AppendLine($"exec \"${{repscope[@]}}\" {Join(commands.Report)}");
            return Write("report.sbatch", b);
        }

        public void WriteSubmit(IReadOnlyList<string> lines)
        {
            var b = new StringBuilder();
            b.AppendLine("#!/usr/bin/env bash");
            b.AppendLine("# Submits the scripts beside this file with the dependencies `repscope reproduce --slurm` used.");
            b.AppendLine("# (`repscope reproduce --slurm` again writes fresh scripts for what is still missing.)");
            b.AppendLine("set -euo pipefail");
            b.AppendLine("cd \"$(dirname \"${BASH_SOURCE[0]}\")\"");
            foreach (string l in lines) { b.AppendLine(l); }
            b.AppendLine("echo \"submitted: ${train:-} ${analyses:-} ${report:-}\"");
            Write("submit.sh", b);
        }

        private StringBuilder Header(string name, string what, string log, int array, bool requeue)
        {
            var b = new StringBuilder();
            b.AppendLine("#!/usr/bin/env bash");
            b.AppendLine($"# Written by `repscope reproduce --slurm` at {DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ssZ}. {what}");
            b.AppendLine("# Submit again: bash submit.sh (beside this file). Without Slurm, one task: SLURM_ARRAY_TASK_ID=0 bash THIS_FILE");
            b.AppendLine($"#SBATCH --job-name={name}");
            if (array > 0) { b.AppendLine(string.Create(CultureInfo.InvariantCulture, $"#SBATCH --array=0-{array - 1}")); }
            if (requeue) { b.AppendLine("#SBATCH --requeue"); }
            b.AppendLine("#SBATCH --open-mode=append");
            b.AppendLine($"#SBATCH --output={Path.Combine(dir, "logs", log)}");
            b.AppendLine(string.Create(CultureInfo.InvariantCulture, $"#SBATCH --cpus-per-task={options.CpusPerTask}"));
            if (options.Partition is { } p) { b.AppendLine($"#SBATCH --partition={p}"); }
            if (options.Time is { } t) { b.AppendLine($"#SBATCH --time={t}"); }
            if (options.Memory is { } m) { b.AppendLine($"#SBATCH --mem={m}"); }
            foreach (string a in options.ExtraArguments ?? []) { b.AppendLine($"#SBATCH {a}"); }
            b.AppendLine("set -euo pipefail");
            b.AppendLine($"repscope=({Join(commands.Repscope)})");
            return b;
        }

        private string Write(string file, StringBuilder b)
        {
            string path = Path.Combine(dir, file);
            AtomicFile.Write(path, s => s.Write(Encoding.UTF8.GetBytes(b.ToString())));
            if (!OperatingSystem.IsWindows()) { File.SetUnixFileMode(path, File.GetUnixFileMode(path) | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute); }
            return path;
        }
    }

    private static string Join(IEnumerable<string> args) => string.Join(' ', args.Select(Quote));

    /// <summary>A word for bash: as it is when it holds only safe characters, a script variable ("$run") in double quotes, else in single quotes.</summary>
    public static string Quote(string s) =>
        s.Length > 1 && s[0] == '$' && s.Skip(1).All(char.IsAsciiLetterLower) ? $"\"{s}\"" :
        s.Length > 0 && s.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,+@%".Contains(c)) ? s : "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
