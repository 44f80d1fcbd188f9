using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.ExceptionServices;
using Repscope.Reporting;
using Repscope.Runs;
using Repscope.Workflows;

namespace Repscope.Reproduce;

/// <summary>Options of <c>repscope reproduce</c>.</summary>
/// <param name="Plan">The grid; null: <see cref="ExperimentPlan.For"/>(<paramref name="Scale"/>).</param>
/// <param name="Workers">Runs trained (and analysed) at once, each with <see cref="TrainingSettings.Threads"/> threads;
/// 0: the processor count divided by those threads. The numbers do not depend on it (docs/reproduce.md).</param>
public sealed record ReproduceOptions(GridScale Scale, string OutDir, TrainingSettings Settings, ExperimentPlan? Plan = null, int Workers = 0);

/// <summary>What one <c>reproduce</c> call did.</summary>
public sealed record ReproduceSummary(string ReportPath, int Trained, int Resumed, int Reused,
                                      IReadOnlyList<Finding> Findings, IReadOnlyList<string> Failures, TimeSpan Elapsed);

/// <summary>
/// Runs the experiment plan: trains what is missing (reusing finished runs, resuming partial ones),
/// runs the analyses, computes the findings and writes the report. A failed analysis does not stop
/// the others: its experiment is reported as not run, with the reason, and listed in
/// <see cref="ReproduceSummary.Failures"/>. Every run is trained and analysed with the same fixed number of threads
/// (<see cref="TrainingSettings.Threads"/>, 1 by default) and several runs go at once on a machine with more cores,
/// so the same plan gives the same numbers, and verdicts, on 1 core or 64.
/// </summary>
public sealed class Reproducer(IReproduceBackend backend)
{
    public const string RunsFolder = "runs";
    public const string ReportFile = "report.html";

    public ReproduceSummary Run(ReproduceOptions options, IProgressReporter? progress = null, CancellationToken cancel = default)
    {
        progress ??= ProgressReporter.None;
        var clock = Stopwatch.StartNew();
        var plan = options.Plan ?? ExperimentPlan.For(options.Scale);
        plan.Validate();
        var settings = options.Settings;
        string runs = Path.Combine(options.OutDir, RunsFolder);
        string RunDir(RunSpec r) => Path.Combine(runs, r.Name);

        // Decide the steps before starting, so that the count and the time left are right from the start.
        var states = plan.Runs.ToDictionary(r => r, r => PlannedRun.Inspect(RunDir(r), r));
        var toTrain = plan.Runs.Where(r => states[r] != RunState.Finished).ToList();
        var weights = new List<double>();
        weights.AddRange(toTrain.Select(plan.EstimatedSeconds));
        double unit = plan.Runs.Min(r => plan.EstimatedSeconds(r) / r.Epochs); // one epoch of the cheapest model
        double Analysis(RunSpec r) => Math.Max(unit, 2 * plan.EstimatedSeconds(r) / r.Epochs); // ~ two epochs' worth
        weights.Add(unit);
        weights.AddRange(plan.LayerRuns.Select(Analysis));
        weights.AddRange(ReproduceReport.MeasureRuns(plan).Select(_ => unit));
        weights.Add(Analysis(plan.SeedPair.A));
        weights.AddRange(plan.ProbeAndPrune.Select(Analysis));
        weights.AddRange(plan.ProbeAndPrune.Select(Analysis));
        weights.Add(unit);

        var results = new ReproduceResults(plan, settings);
        var failures = new ConcurrentQueue<string>();
        int trained = 0, resumed = 0;
        int workers = options.Workers > 0 ? options.Workers : Math.Max(1, Environment.ProcessorCount / Math.Max(1, settings.Threads));
        backend.UseThreads(settings.Threads);
        using var steps = new StepProgress(progress, options.Scale == GridScale.Quick ? "reproduce (quick grid)" : "reproduce", weights);

        // Longest first: with several workers the last run to finish is then a short one.
        ForEach(toTrain.OrderByDescending(plan.EstimatedSeconds).ToList(), workers, settings.Threads, cancel, r =>
        {
            bool resume = states[r] == RunState.Training;
            using var p = steps.Begin($"{(resume ? "resume" : "train")} {r.Architecture}, {r.DataLabel}, seed {r.Seed}", plan.EstimatedSeconds(r));
            try
            {
                cancel.ThrowIfCancellationRequested();
                backend.Train(r, settings, RunDir(r), resume, p, cancel);
                if (PlannedRun.Inspect(RunDir(r), r) != RunState.Finished)
                {
                    throw new RepscopeException($"{RunDir(r)}: training returned but the run is not marked finished");
                }
                if (resume) { Interlocked.Increment(ref resumed); } else { Interlocked.Increment(ref trained); }
            }
            catch (RepscopeException e)
            {
                failures.Enqueue($"training {r.Name}: {e.Message}");
                lock (results) { results.FailedRuns.Add(r); }
            }
        });

        using (steps.Begin("reading the runs' accuracies and learning curves", unit))
        {
            foreach (var r in plan.Runs.Where(r => !results.FailedRuns.Contains(r)))
            {
                try { results.Outcomes[r] = backend.Outcome(RunDir(r)); }
                catch (RepscopeException e) { failures.Enqueue($"reading {r.Name}: {e.Message}"); }
            }
        }

        void Analyse(string what, IEnumerable<RunSpec> needs, Action run)
        {
            List<RunSpec> missing;
            lock (results) { missing = needs.Where(results.FailedRuns.Contains).ToList(); }
            cancel.ThrowIfCancellationRequested();
            if (missing.Count > 0)
            {
                lock (results) { results.NotRun[what] = $"not run: training of {string.Join(", ", missing.Select(m => m.Name))} failed"; }
                return;
            }
            try { run(); }
            catch (RepscopeException e)
            {
                failures.Enqueue($"{what}: {e.Message}");
                lock (results) { results.NotRun[what] = "failed: " + e.Message; }
            }
        }

        ForEach(plan.LayerRuns, workers, settings.Threads, cancel, r =>
        {
            using var p = steps.Begin($"within-model CKA of {r.Name}", Analysis(r));
            Analyse("layers " + r.Name, [r], () => { var l = backend.Layers(RunDir(r), p); lock (results) { results.Layers[r] = l; } });
        });
        foreach (var r in ReproduceReport.MeasureRuns(plan))
        {
            using var p = steps.Begin($"block structure of {r.Name} under other measures", unit);
            Analyse("measures " + r.Name, [r], () =>
            {
                if (backend.Measures(RunDir(r), p) is { } m) { results.Measures[r] = m; }
            });
        }
        {
            var (a, b) = plan.SeedPair;
            using var p = steps.Begin($"cross-seed CKA {a.Name} vs {b.Name}", Analysis(a));
            Analyse(ReproduceResults.SeedsKey, [a, b], () =>
                results.Seeds = backend.Compare(RunDir(a), RunDir(b), Path.Combine(options.OutDir, "compare", $"{a.Name}-vs-{b.Name}"), p));
        }
        ForEach(plan.ProbeAndPrune, workers, settings.Threads, cancel, r =>
        {
            using var p = steps.Begin($"linear probes of {r.Name}", Analysis(r));
            Analyse("probe " + r.Name, [r], () => { var c = backend.Probe(RunDir(r), p); lock (results) { results.Probes[r] = c; } });
        });
        ForEach(plan.ProbeAndPrune, workers, settings.Threads, cancel, r =>
        {
            using var p = steps.Begin($"deleting blocks of {r.Name}", Analysis(r));
            Analyse("prune " + r.Name, [r], () => { var c = backend.Prune(RunDir(r), p); lock (results) { results.Prunes[r] = c; } });
        });
        {
            using var p = steps.Begin("errors: wide against deep", unit);
            Analyse(ReproduceResults.ErrorsKey, plan.ErrorsDeep.Concat(plan.ErrorsWide), () =>
                results.Errors = backend.Errors(plan.ErrorsDeep.Select(RunDir).ToList(), plan.ErrorsWide.Select(RunDir).ToList(),
                                                Path.Combine(options.OutDir, "errors"), p));
        }

        int reused = plan.Runs.Count - toTrain.Count;
        var failed = failures.ToList();
        var trainedOn = TrainedOn(plan.Runs.Select(RunDir));
        var report = ReproduceReport.Build(results, new ReproduceReport.RunFacts(trained, resumed, reused, clock.Elapsed, failed, trainedOn));
        var files = ReportWriter.Write(report, options.OutDir, ReportFile);
        AtomicFile.WriteJson(Path.Combine(options.OutDir, "findings.json"), new
        {
            format = "repscope-findings/1",
            scale = plan.Scale,
            findings = report.Findings,
            failures = failed,
            threads = settings.Threads,
            trainedOn,
            workers,
            trained,
            resumed,
            reused,
            seconds = clock.Elapsed.TotalSeconds,
        });
        steps.Complete($"report: {files.Html}");
        return new ReproduceSummary(files.Html, trained, resumed, reused, report.Findings, failed, clock.Elapsed);
    }

    /// <summary>
    /// The processors (with any settings that capped libtorch's kernels) that the runs' run.json files record, each once,
    /// sorted: libtorch's kernels, and so a run's bits, depend on them (docs/reproduce.md). Runs without a readable run.json,
    /// or written before Repscope recorded the processor, are left out.
    /// </summary>
    internal static IReadOnlyList<string> TrainedOn(IEnumerable<string> runDirs)
    {
        // Inspect never throws for a bad run: a broken run.json is reported where the run is used, not here.
        var cpus = runDirs.Select(d => RunFormat.Inspect(d).Info?.Provenance).OfType<Provenance>().Where(p => p.Cpu.Length > 0)
                          .Select(p => CpuKernels.Describe(p.Cpu, p.KernelSettings));
        return [.. new SortedSet<string>(cpus, StringComparer.Ordinal)];
    }

    /// <summary>
    /// Runs <paramref name="body"/> on every item, <paramref name="workers"/> at once, in list order; a cancellation or an
    /// unexpected exception ends the loop and is rethrown as itself (not wrapped).
    /// </summary>
    /// <remarks>libtorch's intra-op thread count (OpenMP's) is a setting of each OS thread, so every item first sets the
    /// grid's count on the thread it runs on (<see cref="IReproduceBackend.UseThreads"/>); without that, work on a pool
    /// thread would use libtorch's default and give slightly different numbers.</remarks>
    private void ForEach<T>(IReadOnlyList<T> items, int workers, int threads, CancellationToken cancel, Action<T> body)
    {
        void OnThisThread(T item)
        {
            backend.UseThreads(threads);
            body(item);
        }
        if (workers <= 1 || items.Count <= 1)
        {
            foreach (var item in items) { OnThisThread(item); }
            return;
        }
        try
        {
            Parallel.ForEach(Partitioner.Create(items, EnumerablePartitionerOptions.NoBuffering),
                             new ParallelOptions { MaxDegreeOfParallelism = workers, CancellationToken = cancel }, OnThisThread);
        }
        catch (AggregateException e)
        {
            var first = e.InnerExceptions.OfType<OperationCanceledException>().FirstOrDefault<Exception>() ?? e.InnerExceptions[0];
            ExceptionDispatchInfo.Capture(first).Throw();
        }
    }
}

/// <summary>Everything the analyses of one reproduction produced (filled by <see cref="Reproducer"/>).</summary>
public sealed class ReproduceResults(ExperimentPlan plan, TrainingSettings settings)
{
    public const string SeedsKey = "cross-seed CKA";
    public const string ErrorsKey = "errors";

    public ExperimentPlan Plan { get; } = plan;
    public TrainingSettings Settings { get; } = settings;
    public Dictionary<RunSpec, WithinModelMaps> Layers { get; } = [];
    /// <summary>The depth and width block models under other similarity measures (<see cref="ReproduceReport.MeasureRuns"/>).</summary>
    public Dictionary<RunSpec, Analysis.MeasureRobustnessResult> Measures { get; } = [];
    public WithFigure<CompareResult>? Seeds { get; set; }
    public Dictionary<RunSpec, WithFigure<ProbeResult>> Probes { get; } = [];
    public Dictionary<RunSpec, WithFigure<PruneResult>> Prunes { get; } = [];
    public ErrorsResult? Errors { get; set; }
    public Dictionary<RunSpec, RunOutcome> Outcomes { get; } = [];
    public HashSet<RunSpec> FailedRuns { get; } = [];

    /// <summary>Analysis name -> why it has no result.</summary>
    public Dictionary<string, string> NotRun { get; } = [];

    /// <summary>A copy without the analyses of <paramref name="runs"/> (and without the seed comparison if it uses one of them).</summary>
    public ReproduceResults Without(IReadOnlyCollection<RunSpec> runs)
    {
        var copy = new ReproduceResults(Plan, Settings)
        {
            Seeds = runs.Contains(Plan.SeedPair.A) || runs.Contains(Plan.SeedPair.B) ? null : Seeds,
            Errors = Errors,
        };
        foreach (var (k, v) in Layers) { if (!runs.Contains(k)) { copy.Layers[k] = v; } }
        foreach (var (k, v) in Measures) { if (!runs.Contains(k)) { copy.Measures[k] = v; } }
        foreach (var (k, v) in Outcomes) { if (!runs.Contains(k)) { copy.Outcomes[k] = v; } }
        foreach (var (k, v) in Probes) { if (!runs.Contains(k)) { copy.Probes[k] = v; } }
        foreach (var (k, v) in Prunes) { if (!runs.Contains(k)) { copy.Prunes[k] = v; } }
        copy.FailedRuns.UnionWith(FailedRuns);
        foreach (var (k, v) in NotRun) { copy.NotRun[k] = v; }
        return copy;
    }
}
