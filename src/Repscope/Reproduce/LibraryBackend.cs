using System.Text.Json;
using Repscope.Analysis;
using Repscope.Analysis.Errors;
using Repscope.Analysis.Statistics;
using Repscope.Data;
using Repscope.Interop;
using Repscope.Runs;
using Repscope.Models;
using Repscope.Training;
using Repscope.Reporting;
using Repscope.Workflows;

namespace Repscope.Reproduce;

/// <summary>
/// The real <see cref="IReproduceBackend"/>: training through <see cref="Trainer"/>, the analyses
/// through the <see cref="Workflows"/> (which write their JSON and PNGs into RUN/analysis/ as the
/// single commands do) and the error statistics through <see cref="ErrorComparison"/>. The
/// within-model, probe and pruning analyses of a run are reused when RUN/analysis/ already holds
/// them for the current weights and the same settings, so a second call recomputes nothing.
/// </summary>
/// <param name="Probes">Linear probe settings (the quick grid uses fewer features per layer to stay within its time).</param>
public sealed class LibraryBackend(ProbeOptions? probes = null) : IReproduceBackend
{
    /// <summary>Minibatch size of the analyses (the paper's 256).</summary>
    public const int BatchSize = 256;

    /// <summary>Probes of the quick grid: layers pooled to at most 256 features, 100 L-BFGS iterations.</summary>
    public static readonly ProbeOptions QuickProbes = new(MaxFeatures: 256, MaxIterations: 100);

    private readonly ProbeOptions _probes = probes ?? ProbeOptions.Default;

    /// <summary>The backend for a grid: cheaper probes for the quick one.</summary>
    public static LibraryBackend For(GridScale scale) => new(scale == GridScale.Quick ? QuickProbes : null);

    public void UseThreads(int threads) => TorchSharp.torch.set_num_threads(threads);

    public void Train(RunSpec spec, TrainingSettings settings, string runDir, bool resume, IProgressReporter progress, CancellationToken cancel = default)
    {
        var (name, path) = DataSpec.ParseNameAndPath(settings.Data);
        var options = new TrainOptions
        {
            Depth = spec.Depth,
            Width = spec.Width,
            Residual = spec.Residual,
            Data = new DataSpec
            {
                Name = name,
                Path = path ?? settings.DataPath,
                TrainExamples = spec.TrainExamples == 0 ? null : spec.TrainExamples,
                TestExamples = settings.TestExamples,
                Seed = spec.Seed,
            },
            Epochs = spec.Epochs,
            BatchSize = settings.BatchSize,
            Lr = settings.LearningRate,
            WeightDecay = settings.WeightDecay,
            Momentum = settings.Momentum,
            Augment = settings.Augment,
            WarmupEpochs = settings.WarmupFraction * spec.Epochs,
            EvaluateEveryEpoch = settings.EvaluateEveryEpoch,
            Seed = spec.Seed,
            Threads = settings.Threads,
            Out = runDir,
            Resume = resume,
        };
        Trainer.Train(options, progress, cancel);
    }

    /// <summary>Taps of the within-model maps: the stem, every residual branch and every residual block's output
    /// (consecutive block outputs x and relu(x + f(x)) alone are similar by construction; docs/block-structure.md).</summary>
    public const TapSet LayerTaps = TapSet.Branches;

    public RunOutcome Outcome(string runDir)
    {
        var info = RunDirectory.Open(runDir).Info;
        var curve = info.Epochs.Select(e => new EpochPoint(e.Epoch, e.TrainLoss, e.TrainAccuracy, e.TestAccuracy)).ToList();
        return new RunOutcome(curve.Count > 0 ? curve[^1].TrainAccuracy : double.NaN, info.FinalTestAccuracy ?? double.NaN, curve);
    }

    public WithinModelMaps Layers(string runDir, IProgressReporter progress)
    {
        var pc = Cached<PcResult>(runDir, PcWorkflow.JsonFile) is { } c && c.BatchSize == BatchSize && c.Taps == LayerTaps && c.Examples == TestCount(runDir)
            ? c
            : PcWorkflow.Run(runDir, new StreamOptions(BatchSize: BatchSize, Taps: LayerTaps), progress: progress).Result;
        return new WithinModelMaps(pc, Accuracy(runDir));
    }

    public WithFigure<CompareResult> Compare(string runA, string runB, string outDir, IProgressReporter progress)
    {
        var (result, files) = CompareWorkflow.Run([runA, runB], outDir, new StreamOptions(BatchSize: BatchSize, Taps: LayerTaps), progress).Single();
        return new WithFigure<CompareResult>(result, Read(files[1]));
    }

    public WithFigure<ProbeResult> Probe(string runDir, IProgressReporter progress)
    {
        string png = Path.Combine(RunFormat.AnalysisPath(runDir), ProbeWorkflow.PlotFile);
        string correctFile = Path.Combine(RunFormat.AnalysisPath(runDir), ProbeCorrectFile);
        var previous = Cached<ProbeResult>(runDir, ProbeWorkflow.JsonFile, png);
        bool cached = previous is not null && previous.Options == _probes && previous.FitOn == ProbeWorkflow.FitOnTrainingSet;
        var result = cached ? previous! : ProbeWorkflow.Run(runDir, new StreamOptions(BatchSize: BatchSize), null, _probes, progress: progress).Result;
        var curve = ReproduceFindings.ProbeCurve(result);
        if (cached)
        {
            if (ReadCorrect(correctFile, curve.Count) is { } kept)
            {
                var correct = curve.Select((p, k) => (p.Layer, Row: kept[k])).ToDictionary(x => x.Layer, x => x.Row);
                result = result with
                {
                    Probes = [.. result.Probes.Select(p => correct.TryGetValue(p.Layer, out var row) ? p with { Result = p.Result with { TestCorrect = row } } : p)],
                };
            }
        }
        else if (curve.All(p => p.Result.TestCorrect is not null))
        {
            WriteCorrect(correctFile, [.. curve.Select(p => p.Result.TestCorrect!.ToArray())]);
        }
        return new WithFigure<ProbeResult>(result, Read(png));
    }

    /// <summary>Per-example correctness of the probes along the curve (rows in curve order), kept beside probe.json for the intervals of a later call.</summary>
    public const string ProbeCorrectFile = "probe_correct.npz";

    /// <summary>Per-example correctness of the unpruned model (row 0) and of each deletion step (rows 1..), kept beside prune.json.</summary>
    public const string PruneCorrectFile = "prune_correct.npz";

    private static void WriteCorrect(string path, IReadOnlyList<bool[]> rows)
    {
        int n = rows[0].Length;
        if (rows.Any(r => r.Length != n)) { throw new RepscopeException($"{path}: per-example correctness of unequal lengths"); }
        var data = new byte[rows.Count * n];
        for (int k = 0; k < rows.Count; k++) { for (int i = 0; i < n; i++) { data[k * n + i] = rows[k][i] ? (byte)1 : (byte)0; } }
        Npz.Write(path, [NdArray.FromUInt8("correct", data, rows.Count, n)]);   // atomic
    }

    /// <summary>The rows <see cref="WriteCorrect"/> wrote, or null when absent, unreadable or not <paramref name="rows"/> rows (then the finding says it has no interval).</summary>
    private static bool[][]? ReadCorrect(string path, int rows)
    {
        if (!File.Exists(path)) { return null; }
        try
        {
            var a = Npz.Read(path).Single();
            if (a.Shape.Length != 2 || a.Shape[0] != rows) { return null; }
            var bytes = a.AsSpan<byte>().ToArray();
            int n = (int)a.Shape[1];
            return [.. Enumerable.Range(0, rows).Select(k => bytes.AsSpan(k * n, n).ToArray().Select(b => b != 0).ToArray())];
        }
        catch (Exception e) when (e is RepscopeException or IOException or InvalidOperationException) { return null; }
    }

    public WithFigure<PruneResult> Prune(string runDir, IProgressReporter progress)
    {
        string png = Path.Combine(RunFormat.AnalysisPath(runDir), PruneWorkflow.PlotFile);
        string correctFile = Path.Combine(RunFormat.AnalysisPath(runDir), PruneCorrectFile);
        var cached = Cached<PruneResult>(runDir, PruneWorkflow.JsonFile, png) is { RefitHead: false } c ? c : null;
        var result = cached ?? PruneWorkflow.Run(runDir, BatchSize, refitHead: false, seed: 0, progress: progress).Result;
        var pruning = result.Result;
        if (cached is not null)
        {
            if (ReadCorrect(correctFile, pruning.Steps.Count + 1) is { } kept)
            {
                result = result with
                {
                    Result = pruning with { Steps = [.. pruning.Steps.Select((s, k) => s with { Correct = kept[k + 1] })], BaselineCorrect = kept[0] },
                };
            }
        }
        else if (pruning.BaselineCorrect is { } baseline && pruning.Steps.All(s => s.Correct is not null))
        {
            WriteCorrect(correctFile, [baseline.ToArray(), .. pruning.Steps.Select(s => s.Correct!.ToArray())]);
        }
        return new WithFigure<PruneResult>(result, Read(png));
    }

    /// <summary>Examples of the measure comparison (whole data: the first this many test examples). Keeps the report's
    /// "Block structure under other similarity measures" section within seconds per model on two cores.</summary>
    public const int MeasureExamples = 128;

    public MeasureRobustnessResult? Measures(string runDir, IProgressReporter progress)
    {
        int examples = (int)Math.Min(MeasureExamples, TestCount(runDir));
        using var source = new RunSource(runDir, new StreamOptions(Examples: examples, BatchSize: BatchSize, Taps: LayerTaps));
        return MeasureRobustness.WithinModel(source.Layers, source.Pass(0, examples, BatchSize, progress), examples, progress);
    }

    public ErrorsResult Errors(IReadOnlyList<string> groupA, IReadOnlyList<string> groupB, string outDir, IProgressReporter progress)
    {
        var all = groupA.Concat(groupB).ToList();
        var loaded = new Dictionary<string, RunPredictions>();
        using (var task = progress.Start("reading predictions", all.Count))
        {
            foreach (string dir in all) { loaded[dir] = RunPredictions.Read(dir); task.Advance(1); }
            task.Complete($"{all.Count} runs");
        }
        var a = groupA.Select(d => loaded[d]).ToList();
        var b = groupB.Select(d => loaded[d]).ToList();
        ErrorComparisonWriter.Write(ErrorComparison.Compare(a, b, nameA: "deep", nameB: "wide"), outDir);
        var effect = ReproduceFindings.ErrorsInterval([.. a.Select(p => p.Predictions)], [.. b.Select(p => p.Predictions)]);
        var (between, within) = ReproduceFindings.Disagreements([.. a.Select(p => p.Predictions)], [.. b.Select(p => p.Predictions)], null);
        string measured = $"predictions differ on {ReproduceFindings.F(between)} of the test examples between a deep and a wide model, " +
                          $"{ReproduceFindings.F(within)} between two seeds of one architecture ({a.Count} + {b.Count} seeds, {a[0].Examples} test examples)";
        return new ErrorsResult([.. a.Select(p => p.Accuracy)], [.. b.Select(p => p.Accuracy)], effect,
                                $"bootstrap over {a[0].Examples} test examples", measured, Read(Path.Combine(outDir, "scatter.png")));
    }

    /// <summary>
    /// An analysis a previous call (or the single command) already wrote for the current weights, read back as the
    /// record its workflow wrote: its JSON and figures exist and are newer than model.pt. Null when it must be
    /// (re)computed (missing, stale or unreadable); the callers also check that it was made with the settings used here.
    /// </summary>
    private static T? Cached<T>(string runDir, string json, params string[] figures) where T : class
    {
        string path = Path.Combine(RunFormat.AnalysisPath(runDir), json);
        string model = Path.Combine(runDir, RunFormat.ModelFile);
        if (!File.Exists(path) || !File.Exists(model) || figures.Any(f => !File.Exists(f))) { return null; }
        if (File.GetLastWriteTimeUtc(path) < File.GetLastWriteTimeUtc(model)) { return null; }
        try { return JsonSerializer.Deserialize<T>(File.ReadAllText(path), JsonDefaults.Options); }
        catch (Exception e) when (e is JsonException or NotSupportedException or ArgumentException) { return null; }
    }

    private static long TestCount(string runDir) => RunDirectory.Open(runDir).Info.TestSet.Count;

    private static double Accuracy(string runDir) => RunDirectory.Open(runDir).Info.FinalTestAccuracy ?? double.NaN;

    private static byte[] Read(string png) =>
        File.Exists(png) ? File.ReadAllBytes(png) : throw new RepscopeException($"{png}: the analysis wrote no figure");
}
