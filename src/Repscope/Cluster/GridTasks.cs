using Repscope.Reproduce;
using Repscope.Runs;

namespace Repscope.Cluster;

/// <summary>The work of one array task that is not training: the per-run analyses of one run of the grid.</summary>
public static class GridTasks
{
    /// <summary>
    /// Runs the per-run analyses the plan asks of run <paramref name="runName"/> (within-model CKA; probes and
    /// pruning where the plan probes it) through <paramref name="backend"/>, which writes them into
    /// RUN/analysis/ where a later <see cref="Reproducer"/> reads them back. Returns what it ran.
    /// </summary>
    /// <param name="threads">Threads of the analyses: the grid's fixed count, as in <see cref="Reproducer"/>.</param>
    public static IReadOnlyList<string> AnalyseRun(IReproduceBackend backend, ExperimentPlan plan, string outDir, string runName,
                                                   IProgressReporter? progress = null, int threads = TrainingSettings.DefaultThreads)
    {
        progress ??= ProgressReporter.None;
        backend.UseThreads(threads);
        var spec = plan.Runs.FirstOrDefault(r => r.Name == runName)
                   ?? throw new RepscopeException($"run '{runName}' is not in the grid (its runs: {string.Join(", ", plan.Runs.Select(r => r.Name))})");
        string dir = SlurmGrid.RunDir(outDir, spec);
        if (PlannedRun.Inspect(dir, spec) != RunState.Finished)
        {
            throw new RepscopeException($"{dir}: the run is not finished (its training task failed, was cancelled or is still to run); "
                                        + "running the reproduction again trains it");
        }
        var done = new List<string>();
        if (plan.LayerRuns.Contains(spec)) { backend.Layers(dir, progress); done.Add("layers"); }
        if (plan.ProbeAndPrune.Contains(spec))
        {
            backend.Probe(dir, progress); done.Add("probe");
            backend.Prune(dir, progress); done.Add("prune");
        }
        return done;
    }
}
