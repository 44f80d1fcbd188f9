using Repscope.Reproduce;
using Repscope.Runs;
using Repscope.Tests.Runs;
using Repscope.Tests.Report;

namespace Repscope.Tests.Reproduce;

/// <summary>
/// A fast stand-in for training and the analyses: writes run directories in the documented format
/// and returns synthetic results in which block structure appears in deep (depth >= 20), wide
/// (width >= 2) or data-starved models, as in the paper.
/// </summary>
internal sealed class FakeBackend : IReproduceBackend
{
    public List<(string Name, bool Resume)> TrainCalls { get; } = [];
    public List<string> AnalysisCalls { get; } = [];

    /// <summary>Runs whose first training attempt stops after writing a checkpoint (a crash).</summary>
    public HashSet<string> CrashOnce { get; } = [];

    /// <summary>Analyses (by kind: layers, compare, probe, prune, errors) that fail.</summary>
    public HashSet<string> Fail { get; } = [];

    public bool NoBlocks { get; set; }

    /// <summary>Runs that come out untrained (test accuracy 0.1).</summary>
    public HashSet<string> Untrained { get; } = [];

    /// <summary>The errors comparison comes back without a control (a control half with fewer than 2 runs).</summary>
    public bool NoControl { get; set; }

    private static readonly byte[] Png = ReportSamples.Png(40, 30, 90);

    public void Train(RunSpec spec, TrainingSettings settings, string runDir, bool resume, IProgressReporter progress)
    {
        TrainCalls.Add((spec.Name, resume));
        // As Trainer.Train: resume needs the unfinished run.json; a fresh run needs an empty folder.
        if (resume && !File.Exists(Path.Combine(runDir, "run.json"))) { throw new InvalidOperationException("resume without run.json"); }
        if (!resume && Directory.Exists(runDir) && Directory.EnumerateFileSystemEntries(runDir).Any()) { throw new InvalidOperationException("fresh run into a non-empty folder"); }
        using var task = progress.Start("train " + spec.Name, spec.Epochs);
        RunFormat.Write(runDir, RunJson(spec, settings, RunState.Training));
        AtomicFile.WriteAllText(Path.Combine(runDir, "checkpoint.pt"), "epoch 1");
        task.Advance(1);
        if (CrashOnce.Remove(spec.Name)) { throw new RepscopeException($"{runDir}: simulated crash in epoch 2"); }
        task.Advance(spec.Epochs - 1);
        foreach (string f in RunFormat.FinishedFiles) { AtomicFile.WriteAllText(Path.Combine(runDir, f), "x"); }
        RunFormat.Write(runDir, RunJson(spec, settings, RunState.Finished));
        task.Complete();
    }

    internal static RunInfo RunJson(RunSpec s, TrainingSettings settings, RunState state) =>
        SampleRuns.Info(state, s.Depth, s.Width, s.Residual, s.Epochs, s.Seed, s.TrainExamples == 0 ? null : s.TrainExamples, data: settings.Data);

    private static RunSpec Spec(string runDir)
    {
        var c = RunFormat.Read(runDir).Config;
        return new RunSpec(c.Depth, c.Width, c.Residual, (int)(c.RequestedTrainExamples ?? 0), c.Epochs, c.Seed);
    }

    private static List<string> LayerNames(RunSpec s)
    {
        int n = (s.Depth - 2) / 6;
        var names = new List<string> { "stem" };
        for (int stage = 1; stage <= 3; stage++) { for (int b = 1; b <= n; b++) { names.Add($"stage{stage}.block{b}"); } }
        return names;
    }

    private BlockSpan? BlockOf(RunSpec s, int layers) =>
        !NoBlocks && (s.Depth >= 20 || s.Width >= 2 || s.TrainExamples < 100) ? new BlockSpan(layers / 2, layers - 2, 0.95, s.Depth * s.Width) : null;

    private void Check(string kind, string what)
    {
        AnalysisCalls.Add($"{kind} {what}");
        if (Fail.Contains(kind)) { throw new RepscopeException($"{what}: simulated {kind} failure"); }
    }

    public LayersResult Layers(string runDir, IProgressReporter progress)
    {
        var s = Spec(runDir);
        Check("layers", s.Name);
        var names = LayerNames(s);
        var block = BlockOf(s, names.Count);
        int n = names.Count;
        var cka = new double[n][];
        for (int i = 0; i < n; i++)
        {
            cka[i] = new double[n];
            for (int j = 0; j < n; j++) { cka[i][j] = block is not null && block.Contains(i) && block.Contains(j) ? 0.95 : Math.Exp(-Math.Abs(i - j) / 2.0); }
            cka[i][i] = 1;
        }
        var pc1 = Enumerable.Range(0, n).Select(i => block?.Contains(i) == true ? 0.6 : 0.2).ToArray();
        return new LayersResult(names, cka, pc1, block, Untrained.Contains(s.Name) ? 0.1 : 0.8, Png, Png);
    }

    public CompareResult Compare(string runA, string runB, string outDir, IProgressReporter progress)
    {
        var s = Spec(runA);
        Check("compare", s.Name);
        var names = LayerNames(s);
        var block = BlockOf(s, names.Count);
        var cka = names.Select((_, i) => names.Select((_, j) => i == j ? (block?.Contains(i) == true ? 0.4 : 0.9) : 0.3).ToArray()).ToArray();
        return new CompareResult(names, names, cka, Png);
    }

    public ProbeCurve Probe(string runDir, IProgressReporter progress)
    {
        var s = Spec(runDir);
        Check("probe", s.Name);
        var names = LayerNames(s);
        var block = BlockOf(s, names.Count);
        double acc = 0.3;
        var accuracy = names.Select((_, i) => acc += block?.Contains(i) == true && block.Contains(i - 1) ? 0.001 : 0.05).ToArray();
        return new ProbeCurve(names, accuracy, Png);
    }

    public PruneCurve Prune(string runDir, IProgressReporter progress)
    {
        var s = Spec(runDir);
        Check("prune", s.Name);
        var names = LayerNames(s);
        var block = BlockOf(s, names.Count);
        var steps = new List<PruneStep>();
        for (int stage = 1; stage <= 3; stage++)
        {
            var stageBlocks = Enumerable.Range(0, names.Count).Where(i => names[i].StartsWith($"stage{stage}.", StringComparison.Ordinal)).ToList();
            double acc = 0.8;
            for (int k = 1; k <= stageBlocks.Count; k++)
            {
                int newly = stageBlocks[^k];
                acc -= block?.Contains(newly) == true ? 0.01 : 0.3 / k;
                steps.Add(new PruneStep(stage, k, names[newly], acc));
            }
        }
        return new PruneCurve(0.8, steps, Png);
    }

    public ErrorsSummary Errors(IReadOnlyList<string> groupA, IReadOnlyList<string> groupB, string outDir, IProgressReporter progress)
    {
        Check("errors", $"{groupA.Count} vs {groupB.Count}");
        var classes = new[] { "T-shirt/top", "Trouser", "Bag <small>" }
            .Select((c, i) => new ClassComparison(c, 0.8, 0.8 - 0.05 * i, i == 2 ? 0.001 : 0.5, i == 2)).ToList();
        return new ErrorsSummary(0.81, 0.80, classes, 1, NoControl ? null : 0, Png);
    }
}
