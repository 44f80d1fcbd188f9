using Repscope.Analysis.Statistics;
using Repscope.Reproduce;
using Repscope.Runs;
using Repscope.Tests.Runs;
using Repscope.Tests.Reporting;
using Repscope.Workflows;

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
    public List<TrainingSettings> Settings { get; } = [];

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

    public void Train(RunSpec spec, TrainingSettings settings, string runDir, bool resume, IProgressReporter progress, CancellationToken cancel = default)
    {
        lock (TrainCalls) { TrainCalls.Add((spec.Name, resume)); Settings.Add(settings); }
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

    /// <summary>Taps as <see cref="LibraryBackend.LayerTaps"/>: the stem, then each residual block's branch and output.</summary>
    private static List<string> LayerNames(RunSpec s)
    {
        int n = (s.Depth - 2) / 6;
        var names = new List<string> { "stem" };
        for (int stage = 1; stage <= 3; stage++)
        {
            for (int b = 0; b < n; b++) { names.Add($"stage{stage}.block{b}.branch"); names.Add($"stage{stage}.block{b}"); }
        }
        return names;
    }

    /// <summary>The planted block structure: the second half of the taps but the last, in wide, deep or data-starved models.</summary>
    private (int First, int Last)? BlockOf(RunSpec s, int layers) =>
        !NoBlocks && (s.Depth >= 32 || s.Width >= 2 || s.TrainExamples < 100 || !s.Residual) ? (layers / 2, layers - 2) : null;

    /// <summary>Where a block-free model has a faint square (0.003 x seed above the profile): seed-to-seed noise, far below the paper's effect.</summary>
    private static (int First, int Last) Faint(int layers) => (layers / 2, layers - 2);

    private static bool Inside((int First, int Last)? b, int i) => b is { } x && i >= x.First && i <= x.Last;

    private void Check(string kind, string what)
    {
        lock (AnalysisCalls) { AnalysisCalls.Add($"{kind} {what}"); }
        if (Fail.Contains(kind)) { throw new RepscopeException($"{what}: simulated {kind} failure"); }
    }

    public RunOutcome Outcome(string runDir)
    {
        var s = Spec(runDir);
        double test = Untrained.Contains(s.Name) ? 0.1 : 0.8;
        var curve = Enumerable.Range(1, s.Epochs).Select(e => new EpochPoint(e, 1.0 / e, 1 - 0.5 / e, e == s.Epochs ? test : null)).ToList();
        return new RunOutcome(curve[^1].TrainAccuracy, test, curve);
    }

    /// <summary>Synthetic activations of the run's layers (the planted block shares one signal) under the four measures.</summary>
    public Repscope.Analysis.MeasureRobustnessResult? Measures(string runDir, IProgressReporter progress)
    {
        var s = Spec(runDir);
        MeasureCalls.Add(s.Name);
        var names = LayerNames(s);
        var block = BlockOf(s, names.Count);
        var g = new TorchSharp.torch.Generator((ulong)s.Seed);
        using var shared = TorchSharp.torch.randn(60, 4, dtype: TorchSharp.torch.ScalarType.Float64, generator: g);
        var layers = names.Select((_, i) => block is { } b && i >= b.First && i <= b.Last
            ? shared + 0.1 * TorchSharp.torch.randn(60, 4, dtype: TorchSharp.torch.ScalarType.Float64, generator: g)
            : TorchSharp.torch.randn(60, 4, dtype: TorchSharp.torch.ScalarType.Float64, generator: g)).ToList();
        try { return Repscope.Analysis.MeasureRobustness.WithinModel(names, layers); }
        finally { foreach (var t in layers) { t.Dispose(); } }
    }

    /// <summary>The runs whose measure comparison was asked for.</summary>
    public List<string> MeasureCalls { get; } = [];

    public WithinModelMaps Layers(string runDir, IProgressReporter progress)
    {
        var s = Spec(runDir);
        Check("layers", s.Name);
        var names = LayerNames(s);
        var block = BlockOf(s, names.Count);
        int n = names.Count;
        double inside = 0.93 + 0.02 * s.Seed; // a little seed-to-seed variation, so that intervals over seeds exist
        double[][] Map(double blockCka)
        {
            var cka = new double[n][];
            for (int i = 0; i < n; i++)
            {
                cka[i] = new double[n];
                for (int j = 0; j < n; j++)
                {
                    double profile = Math.Exp(-Math.Abs(i - j) / (2.0 + 0.1 * s.Seed));
                    bool faint = block is null && Inside(Faint(n), i) && Inside(Faint(n), j) && !double.IsNaN(blockCka);
                    cka[i][j] = Inside(block, i) && Inside(block, j) ? blockCka : faint ? Math.Min(1, profile + 0.003 * s.Seed) : profile;
                }
                cka[i][i] = 1;
            }
            return cka;
        }
        var pc1 = Enumerable.Range(0, n).Select(i => Inside(block, i) ? 0.6 : 0.2).ToArray();
        // Without PC1 the block is gone: the map is the block-free profile.
        return ReproduceSamples.Layers(names, Map(inside), Map(double.NaN).Select((row, i) => row.Select((v, j) => double.IsNaN(v) ? Math.Exp(-Math.Abs(i - j) / (2.0 + 0.1 * s.Seed)) : v).ToArray()).ToArray(),
                                pc1, Untrained.Contains(s.Name) ? 0.1 : 0.8);
    }

    public WithFigure<CompareResult> Compare(string runA, string runB, string outDir, IProgressReporter progress)
    {
        var s = Spec(runA);
        Check("compare", s.Name);
        var names = LayerNames(s);
        var block = BlockOf(s, names.Count);
        var cka = names.Select((_, i) => names.Select((_, j) => i == j ? (Inside(block, i) ? 0.4 : 0.9) : 0.3).ToArray()).ToArray();
        return ReproduceSamples.Compare(names, names, cka, Png);
    }

    /// <summary>Per-example correctness with exactly round(accuracy x n) correct examples (the first ones of a fixed permutation).</summary>
    internal static bool[] Correct(double accuracy, int n = 400, int shift = 0)
    {
        int k = (int)Math.Round(accuracy * n);
        return [.. Enumerable.Range(0, n).Select(i => ((i * 7 + shift) % n) < k)];
    }

    public WithFigure<ProbeResult> Probe(string runDir, IProgressReporter progress)
    {
        var s = Spec(runDir);
        Check("probe", s.Name);
        var names = LayerNames(s).Where(l => !l.EndsWith(".branch", StringComparison.Ordinal)).ToList();
        var all = LayerNames(s);
        var block = BlockOf(s, all.Count);
        double acc = 0.3;
        // Accuracy rises by 0.05 per residual block, by 0.001 once past the block structure's first residual block.
        var accuracy = names.Select((l, i) => acc += i > 0 && block is { } b && all.IndexOf(l) > b.First + 1 && Inside(block, all.IndexOf(l) - 1) ? 0.001 : 0.05).ToArray();
        return ReproduceSamples.Probe(names, accuracy, 400, Png, [.. accuracy.Select(a => Correct(a))]);
    }

    public WithFigure<PruneResult> Prune(string runDir, IProgressReporter progress)
    {
        var s = Spec(runDir);
        Check("prune", s.Name);
        var names = LayerNames(s);
        var block = BlockOf(s, names.Count);
        var steps = new List<Repscope.Analysis.PruneStep>();
        for (int stage = 1; stage <= 3; stage++)
        {
            var stageBlocks = Enumerable.Range(0, names.Count).Where(i => names[i].StartsWith($"stage{stage}.", StringComparison.Ordinal) && !names[i].EndsWith(".branch", StringComparison.Ordinal)).ToList();
            double acc = 0.8;
            for (int k = 1; k <= stageBlocks.Count; k++)
            {
                int newly = stageBlocks[^k];
                acc -= Inside(block, newly) ? 0.01 : 0.3 / k;
                steps.Add(ReproduceSamples.Step(stage, k, names[newly], acc, Correct(acc)));
            }
        }
        return ReproduceSamples.Prune(0.8, steps, Png, Correct(0.8));
    }

    public ErrorsResult Errors(IReadOnlyList<string> groupA, IReadOnlyList<string> groupB, string outDir, IProgressReporter progress)
    {
        Check("errors", $"{groupA.Count} vs {groupB.Count}");
        var effect = new Interval(0.05, 0.03, 0.07, 0.95, IntervalMethod.PercentileBootstrap, 400);
        return new ErrorsResult([0.81, 0.80, 0.82, 0.81], [0.80, 0.79, 0.81, 0.80], effect, "bootstrap over 400 test examples",
                                "predictions differ on 0.2 of the test examples between groups, 0.15 within", Png);
    }
}
