using System.ComponentModel;
using System.Globalization;
using Repscope.Cluster;
using Repscope.Reporting;
using Repscope.Reproduce;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

/// <summary>
/// <c>repscope reproduce [--quick] [--data NAME[:PATH]] [--out results/]</c>: trains the grid the
/// paper's experiments need (reusing finished runs, resuming partial ones), runs every analysis and
/// writes results/report.html. With <c>--slurm</c> it submits the same work as Slurm job arrays instead
/// (docs/slurm.md).
/// </summary>
public sealed class ReproduceCommand(Terminal terminal) : Command<ReproduceCommand.Settings>
{
    public const string QuickData = "fashion-mnist-small";
    public const string FullData = "fashion-mnist";

    public sealed class Settings : CommandSettings
    {
        [CommandOption("--quick")]
        [Description("The quick grid: about 7 minutes on 2 idle CPU cores, on the data shipped in the repository (docs/reproduce.md).")]
        public bool Quick { get; init; }

        [CommandOption("--test-every-epoch")]
        [Description("Evaluate every model on the test set after every epoch (a test-accuracy learning curve); default: only after the last epoch. Applies to models trained by this call.")]
        public bool TestEveryEpoch { get; init; }

        [CommandOption("--data <DATA>")]
        [Description("Data set as NAME or NAME:PATH: fashion-mnist-small (shipped), fashion-mnist, mnist, cifar10, cifar100, folder:PATH. Default: " + QuickData + " with --quick, else " + FullData + ".")]
        public string? Data { get; init; }

        [CommandOption("--out <DIR>")]
        [Description("Output folder: report.html, figures/, findings.json, runs/ (a second call reuses what is there). With --slurm: on a file system every node shares.")]
        [DefaultValue("results")]
        public string Out { get; init; } = "results";

        [CommandOption("--slurm")]
        [Description("Submit the work as Slurm jobs instead of running it here: a training array (one task per unfinished run), the per-run analyses after it, the report after them; scripts in DIR/slurm/ (docs/slurm.md).")]
        public bool Slurm { get; init; }

        [CommandOption("--partition <P>")]
        [Description("With --slurm: the partition every job runs in (default: the cluster's).")]
        public string? Partition { get; init; }

        [CommandOption("--time <HH:MM:SS>")]
        [Description("With --slurm: time limit per task (default: the partition's). A task that hits it can be requeued and resumes.")]
        public string? Time { get; init; }

        [CommandOption("--cpus-per-task <C>")]
        [Description("With --slurm: CPUs per task. Every run trains with one thread, as without --slurm, so that both give the same numbers; more CPUs only help the data loading.")]
        [DefaultValue(SlurmJobOptions.DefaultCpusPerTask)]
        public int CpusPerTask { get; init; } = SlurmJobOptions.DefaultCpusPerTask;

        [CommandOption("--mem <M>")]
        [Description("With --slurm: memory per task in sbatch's syntax, e.g. 8G (default: the partition's).")]
        public string? Mem { get; init; }

        [CommandOption("--sbatch-arg <ARG>")]
        [Description("With --slurm: another sbatch option for every job, e.g. --sbatch-arg=--account=abc (repeatable).")]
        public string[] SbatchArgs { get; init; } = [];

        [CommandOption("--plan <FILE>", IsHidden = true)]
        [Description("A grid as a plan file (repscope-plan/1) instead of the built-in one; the Slurm jobs read DIR/slurm/plan.json.")]
        public string? Plan { get; init; }

        [CommandOption("--only-run <NAME>", IsHidden = true)]
        [Description("Only the per-run analyses of run NAME (what one task of the Slurm analyses array runs).")]
        public string? OnlyRun { get; init; }

        [CommandOption("--no-train", IsHidden = true)]
        [Description("Fail instead of training when a run is not finished (what the Slurm report job runs).")]
        public bool NoTrain { get; init; }

        public override Spectre.Console.ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(Out)) { return Spectre.Console.ValidationResult.Error("--out must not be empty"); }
            if (!Slurm && (Partition ?? Time ?? Mem) is not null || !Slurm && SbatchArgs.Length > 0)
            {
                return Spectre.Console.ValidationResult.Error("--partition, --time, --mem and --sbatch-arg only go with --slurm");
            }
            if (Slurm && OnlyRun is not null) { return Spectre.Console.ValidationResult.Error("--only-run does not go with --slurm"); }
            return CpusPerTask < 1 ? Spectre.Console.ValidationResult.Error($"--cpus-per-task must be at least 1, got {CpusPerTask}")
                                   : Spectre.Console.ValidationResult.Success();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var plan = PlanOf(settings);
        var backend = LibraryBackend.For(plan.Scale);
        if (settings.Slurm) { return Submit(settings, plan, new SlurmGrid(new SlurmClient()), RepscopeInvocation(), terminal); }
        if (settings.OnlyRun is { } name)
        {
            var done = terminal.WithProgress(p => GridTasks.AnalyseRun(backend, plan, settings.Out, name, p));
            terminal.WriteLine($"{name}: {string.Join(", ", done.DefaultIfEmpty("no per-run analyses in the grid"))}");
            return 0;
        }
        new SlurmGrid(new SlurmClient()).EnsureNoActiveJobs(settings.Out, Environment.GetEnvironmentVariable("SLURM_JOB_ID"));
        if (settings.NoTrain && SlurmGrid.Unfinished(plan, settings.Out) is { Count: > 0 } unfinished)
        {
            throw new RepscopeException($"{Path.Combine(settings.Out, Reproducer.RunsFolder)}: {unfinished.Count} run(s) not finished "
                + $"({string.Join(", ", unfinished.Take(5).Select(r => r.Name))}{(unfinished.Count > 5 ? ", ..." : "")}); their training failed or was cancelled: "
                + "see the logs in " + Path.Combine(SlurmGrid.ScriptsDir(settings.Out), "logs") + ", then run `repscope reproduce --slurm` again");
        }
        return Run(settings, backend, terminal, plan, cancellationToken);
    }

    private static ExperimentPlan PlanOf(Settings s) => s.Plan is { } file ? PlanFile.Read(file) : ExperimentPlan.For(s.Quick ? GridScale.Quick : GridScale.Full);

    private static string DataOf(Settings s, ExperimentPlan plan) => s.Data ?? (plan.Scale == GridScale.Quick ? QuickData : FullData);

    /// <summary>The command without the console: maps settings to options, runs, prints the summary; returns the exit code.</summary>
    internal static int Run(Settings settings, IReproduceBackend backend, Terminal terminal, ExperimentPlan? plan = null, CancellationToken cancel = default)
    {
        plan ??= PlanOf(settings);
        var options = new ReproduceOptions(plan.Scale, settings.Out, TrainingSettings.For(plan, DataOf(settings, plan), null, settings.TestEveryEpoch ? true : null), plan);
        ReproduceSummary summary;
        try { summary = terminal.WithProgress(p => new Reproducer(backend).Run(options, p, cancel)); }
        catch (OperationCanceledException)
        {
            throw new RepscopeException("reproduce interrupted; run the same command again: finished runs are reused and the interrupted one resumes from its last epoch");
        }

        terminal.WriteLine($"{summary.Trained} runs trained, {summary.Resumed} resumed, {summary.Reused} reused (finished runs found in {Path.Combine(settings.Out, Reproducer.RunsFolder)}); {ProgressText.Duration(summary.Elapsed)}");
        foreach (var f in summary.Findings)
        {
            terminal.WriteLine($"  {ReportWriter.VerdictText(f.Verdict),-13} {ReportWriter.EffectText(f)}");
            terminal.WriteLine($"  {"",-13} {f.Claim}" + (f.Verdict == Verdict.Inconclusive ? $" ({f.Reason})" : ""));
        }
        terminal.WriteLine($"report: {summary.ReportPath}");
        if (summary.Failures.Count == 0) { return 0; }
        foreach (string f in summary.Failures) { terminal.Warn(f); }
        terminal.Fail($"{summary.Failures.Count} step(s) failed; the report marks what they fed as not run; run again to retry them");
        return ExitCode.UserError;
    }

    /// <summary>
    /// <c>--slurm</c>: writes the plan and the batch scripts into DIR/slurm/, submits what is missing, prints the
    /// job ids and how to follow them.
    /// </summary>
    internal static int Submit(Settings s, ExperimentPlan plan, SlurmGrid grid, IReadOnlyList<string> repscope, Terminal output)
    {
        string outDir = Path.GetFullPath(s.Out);
        string planFile = Path.Combine(SlurmGrid.ScriptsDir(outDir), SlurmGrid.PlanFileName);
        string data = DataOf(s, plan);
        var job = new SlurmJobOptions(s.Partition, s.Time, s.CpusPerTask, s.Mem, s.SbatchArgs);
        job.Validate();
        plan.Validate();
        grid.EnsureNoActiveJobs(outDir);
        PlanFile.Write(planFile, plan);
        string[] reproduce = ["reproduce", "--data", data, "--plan", planFile, "--out", outDir];
        var settings = TrainingSettings.For(plan, data, null, s.TestEveryEpoch ? true : null);
        var commands = new GridCommands(repscope, (r, dir) => TrainArguments(r, settings, dir), dir => ["train", "--out", dir, "--resume"],
                                        name => [.. reproduce, "--only-run", name], [.. reproduce, "--no-train"]);
        var sub = grid.Submit(plan, outDir, job, commands);
        if (sub.ReportJob is null)
        {
            output.WriteLine($"nothing to submit: all {plan.Runs.Count} runs are trained and analysed; report: {Path.Combine(outDir, Reproducer.ReportFile)}");
            return 0;
        }
        output.WriteLine($"submitted to Slurm ({sub.Reused} of {plan.Runs.Count} runs reused):");
        if (sub.TrainJob is { } t) { output.WriteLine($"  training  {t}: array of {sub.Trained.Count} task(s), one per unfinished run (requeueable, resumes from its checkpoint)"); }
        if (sub.AnalysesJob is { } a) { output.WriteLine($"  analyses  {a}: array of {sub.Analysed.Count} task(s), one per run{(sub.TrainJob is null ? "" : $", after {sub.TrainJob} ends")}"); }
        output.WriteLine($"  report    {sub.ReportJob}: one job{(sub.AnalysesJob ?? sub.TrainJob) switch { null => "", var d => $", after {d} succeeds" }} -> {Path.Combine(outDir, Reproducer.ReportFile)}");
        string ids = string.Join(',', sub.Jobs);
        output.WriteLine($"follow:   squeue -j {ids}     (after they end, with accounting: sacct -j {ids})");
        output.WriteLine($"logs:     {Path.Combine(sub.ScriptsDir, "logs")}/     scripts: {sub.ScriptsDir}/ (submit.sh submits them again)");
        output.WriteLine($"cancel:   scancel {string.Join(' ', sub.Jobs)}     again for what is missing: repscope reproduce --slurm --out {s.Out}");
        return 0;
    }

    /// <summary>`repscope train` arguments for a run of the grid: what <see cref="LibraryBackend"/> trains with <paramref name="settings"/>, as flags.</summary>
    internal static IReadOnlyList<string> TrainArguments(RunSpec r, TrainingSettings settings, string runDir)
    {
        var i = CultureInfo.InvariantCulture;
        var a = new List<string> { "train", "--depth", r.Depth.ToString(i), "--width", r.Width.ToString("R", i) };
        if (!r.Residual) { a.Add("--no-residual"); }
        a.AddRange(["--data", settings.DataPath is null ? settings.Data : $"{settings.Data}:{settings.DataPath}"]);
        // The grid's 0 means the whole training split; train's default is at most 8,000 examples.
        a.AddRange(r.TrainExamples == 0 ? ["--train-fraction", "1"] : ["--train-examples", r.TrainExamples.ToString(i)]);
        if (settings.TestExamples is { } t) { a.AddRange(["--test-examples", t.ToString(i)]); }
        a.AddRange(["--epochs", r.Epochs.ToString(i), "--batch-size", settings.BatchSize.ToString(i), "--lr", settings.LearningRate.ToString("R", i),
                    "--weight-decay", settings.WeightDecay.ToString("R", i), "--momentum", settings.Momentum.ToString("R", i),
                    "--warmup-epochs", (settings.WarmupFraction * r.Epochs).ToString("R", i)]);
        if (!settings.Augment) { a.Add("--no-augment"); }
        if (!settings.EvaluateEveryEpoch) { a.Add("--test-at-end"); }
        a.AddRange(["--seed", r.Seed.ToString(i), "--threads", settings.Threads.ToString(i), "--out", runDir]);
        return a;
    }

    /// <summary>How the jobs start this same repscope: "dotnet Repscope.Cli.dll" or the app itself.</summary>
    internal static IReadOnlyList<string> RepscopeInvocation()
    {
        string host = Environment.ProcessPath ?? "dotnet";
        return Path.GetFileNameWithoutExtension(host) == "dotnet" ? [host, typeof(ReproduceCommand).Assembly.Location] : [host];
    }
}
