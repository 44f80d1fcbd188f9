using Repscope.Analysis;
using Repscope.Analysis.Errors;
using Repscope.Data;
using Repscope.Training;

namespace Repscope.Reproduce;

/// <summary>
/// The real <see cref="IReproduceBackend"/>: training through <see cref="Trainer"/>, the analyses
/// through <see cref="RunAnalyses"/> (which write their JSON and PNGs into RUN/analysis/ as the
/// single commands do) and the error statistics through <see cref="ErrorComparison"/>.
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

    public void Train(RunSpec spec, TrainingSettings settings, string runDir, bool resume, IProgressReporter progress)
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
            Seed = spec.Seed,
            Out = runDir,
            Resume = resume,
        };
        Trainer.Train(options, progress);
    }

    public LayersResult Layers(string runDir, IProgressReporter progress)
    {
        var report = RunAnalyses.Layers(runDir, new StreamOptions(BatchSize: BatchSize), progress: progress);
        var blocks = report.BlockStructure;
        var largest = blocks.Blocks.OrderByDescending(b => b.Length).ThenBy(b => b.First).FirstOrDefault();
        var span = largest is null ? null : new BlockSpan(largest.First, largest.Last, largest.MeanCka, blocks.Coverage);
        string folder = RunAnalyses.AnalysisFolder(runDir);
        return new LayersResult(report.Layers, report.Cka, [.. report.Pc1Fraction], span, Accuracy(runDir),
                                Read(Path.Combine(folder, "layers.png")), Read(Path.Combine(folder, "layers_pc1.png")));
    }

    public CompareResult Compare(string runA, string runB, string outDir, IProgressReporter progress)
    {
        var report = RunAnalyses.Compare([runA, runB], outDir, new StreamOptions(BatchSize: BatchSize), progress).Single();
        // compare names its files after the two runs; the folder is this pair's own.
        var png = Directory.GetFiles(outDir, "compare_*.png").OrderByDescending(File.GetLastWriteTimeUtc).FirstOrDefault()
                  ?? throw new RepscopeException($"{outDir}: compare wrote no heatmap (compare_*.png)");
        return new CompareResult(report.RowLayers, report.ColumnLayers, report.Cka, Read(png));
    }

    public ProbeCurve Probe(string runDir, IProgressReporter progress)
    {
        var report = RunAnalyses.Probe(runDir, new StreamOptions(BatchSize: BatchSize), null, _probes, progress: progress);
        // The curve across depth: the stem and the block outputs (the branches sit between them).
        var outputs = report.Probes.Where(p => !LayerNames.IsBranch(p.Layer)).ToList();
        return new ProbeCurve([.. outputs.Select(p => p.Layer)], [.. outputs.Select(p => p.Result.TestAccuracy)],
                              Read(Path.Combine(RunAnalyses.AnalysisFolder(runDir), "probe.png")));
    }

    public PruneCurve Prune(string runDir, IProgressReporter progress)
    {
        var report = RunAnalyses.Prune(runDir, BatchSize, refitHead: false, seed: 0, progress: progress);
        var steps = report.Result.Steps.Select(s => new PruneStep(s.Stage, s.Deleted, s.DeletedBlocks[0], s.Accuracy)).ToList();
        return new PruneCurve(report.Result.Baseline, steps, Read(Path.Combine(RunAnalyses.AnalysisFolder(runDir), "prune.png")));
    }

    public ErrorsSummary Errors(IReadOnlyList<string> groupA, IReadOnlyList<string> groupB, string outDir, IProgressReporter progress)
    {
        var all = groupA.Concat(groupB).ToList();
        var loaded = new Dictionary<string, RunPredictions>();
        using (var task = progress.Start("reading predictions", all.Count))
        {
            foreach (string dir in all) { loaded[dir] = RunPredictions.Read(dir); task.Advance(1); }
            task.Complete($"{all.Count} runs");
        }
        var report = ErrorComparison.Compare([.. groupA.Select(d => loaded[d])], [.. groupB.Select(d => loaded[d])], nameA: "deep", nameB: "wide");
        ErrorReportWriter.Write(report, outDir);
        var classes = report.PerClass.Classes
            .Select(c => new ClassComparison(c.Name, c.MeanA, c.MeanB, c.PAdjusted, c.Significant)).ToList();
        return new ErrorsSummary(report.A.MeanAccuracy, report.B.MeanAccuracy, classes, report.PerClass.SignificantCount,
                                 report.ControlPerClass?.SignificantCount, Read(Path.Combine(outDir, "scatter.png")));
    }

    private static double Accuracy(string runDir) => RunDirectory.Open(runDir).Info.FinalTestAccuracy ?? double.NaN;

    private static byte[] Read(string png) =>
        File.Exists(png) ? File.ReadAllBytes(png) : throw new RepscopeException($"{png}: the analysis wrote no figure");
}
