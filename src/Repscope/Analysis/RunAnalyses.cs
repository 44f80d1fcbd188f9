using System.Diagnostics;
using Repscope.Data;
using Repscope.Interop;
using Repscope.Models;
using Repscope.Runs;
using Repscope.Similarity;
using Repscope.Spectral;
using Repscope.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Analysis;

/// <summary>Which layer taps an analysis uses.</summary>
public enum LayerSelection
{
    /// <summary>The stem and every residual block's output (after the addition and its ReLU).</summary>
    Blocks,
    /// <summary>Also every block's residual branch right before the addition (ResNet-56: 55 taps, one per convolution pair and stem).</summary>
    Branches,
    /// <summary>Every tap: also the convolutions, norms and ReLUs inside blocks and the projection shortcuts.</summary>
    All,
}

/// <summary>Settings shared by the analyses that stream a run's test examples through its model.</summary>
/// <param name="Examples">Use the first N test examples (null: all), the same ones, in the same order, for every model.</param>
/// <param name="BatchSize">Minibatch size (the paper: 256); also the minibatch of minibatch CKA.</param>
/// <param name="Epochs">Passes of minibatch CKA over the examples, each (after the first) in a new seeded shuffled order; all batches are averaged.</param>
public sealed record StreamOptions(int? Examples = null, int BatchSize = 256, LayerSelection Taps = LayerSelection.Blocks, int Epochs = 1, long Seed = 0)
{
    public void Validate()
    {
        if (Examples is < 4) { throw new RepscopeException($"--examples must be at least 4, got {Examples}"); }
        if (BatchSize < 4) { throw new RepscopeException($"--batch-size must be at least 4 (the unbiased HSIC needs 4 rows), got {BatchSize}"); }
        if (Epochs < 1) { throw new RepscopeException($"--epochs must be at least 1, got {Epochs}"); }
    }
}

/// <summary>layers.json: the within-model CKA map, PC1 fractions and block structure of one run.</summary>
public sealed record LayersReport(string Run, string Architecture, long Examples, int BatchSize, int Epochs, LayerSelection Taps, int Batches,
                                  IReadOnlyList<string> Layers, double[][] Cka, IReadOnlyList<double> Pc1Fraction,
                                  BlockStructureResult BlockStructure, FirstComponentOptions PcOptions, IReadOnlyList<string> Warnings, double Seconds);

/// <summary>One cross-model map of compare.</summary>
public sealed record CompareReport(string RunA, string RunB, string ArchitectureA, string ArchitectureB, long Examples, int BatchSize, LayerSelection Taps,
                                   IReadOnlyList<string> RowLayers, IReadOnlyList<string> ColumnLayers, double[][] Cka,
                                   IReadOnlyList<string> Warnings, double Seconds);

/// <summary>pc.json.</summary>
public sealed record PcReport(string Run, string Architecture, long Examples, int BatchSize, LayerSelection Taps, IReadOnlyList<string> Layers,
                              IReadOnlyList<double> Pc1Fraction, double[][] Pc1SquaredCosine, double[][] Cka, double[][] CkaWithoutPc1,
                              BlockStructureResult BlockStructure, BlockStructureResult BlockStructureWithoutPc1,
                              FirstComponentOptions PcOptions, IReadOnlyList<string> Warnings, double Seconds);

/// <summary>probe.json.</summary>
public sealed record ProbeReport(string Run, string Architecture, long TrainExamples, long TestExamples, ProbeOptions Options, long Seed,
                                 IReadOnlyList<LayerProbe> Probes, IReadOnlyList<Block> BlockStructure, string? BlockStructureSource, double Seconds);

/// <summary>prune.json.</summary>
public sealed record PruneReport(string Run, string Architecture, double? RunTestAccuracy, bool RefitHead, long Seed, PruneResult Result,
                                 IReadOnlyList<Block> BlockStructure, string? BlockStructureSource, double Seconds);

/// <summary>
/// The analyses of a trained run (a run directory), end to end: stream the test examples through the model,
/// accumulate, write JSON and PNGs into RUN/analysis/ (compare: into its output folder).
/// </summary>
public static class RunAnalyses
{
    public static string AnalysisFolder(string run) => RunFormat.AnalysisPath(run);

    // ---- layers ---------------------------------------------------------------------------------------------

    public static LayersReport Layers(string run, StreamOptions options, BlockOptions? blockOptions = null,
                                      FirstComponentOptions? pcOptions = null, IProgressReporter? progress = null)
    {
        progress ??= ProgressReporter.None;
        pcOptions ??= FirstComponentOptions.Default;
        var clock = Stopwatch.StartNew();
        var (model, data, layers) = Open(run, options);
        using var _ = model;
        using var __ = data;
        var epochs = Enumerable.Range(0, options.Epochs)
            .Select(e => Pass(model, e == 0 ? data : data.Subset(Permutation(data.Count, options.Seed + e)), options, progress))
            .ToList();
        var result = LayerSimilarity.WithinModel(layers, epochs, pcOptions, blockOptions);
        var report = new LayersReport(run, model.Architecture, data.Count, options.BatchSize, options.Epochs, options.Taps, result.Batches,
                                      layers, Rows(result.Cka.Values), result.Pc1Fractions, result.Blocks, pcOptions, result.Warnings,
                                      clock.Elapsed.TotalSeconds);
        string folder = AnalysisFolder(run);
        AtomicFile.WriteJson(Path.Combine(folder, "layers.json"), report);
        AnalysisPlots.WithinModelHeatmap(Path.Combine(folder, "layers.png"), result.Cka, $"{model.Architecture}: CKA between layers", result.Blocks);
        AnalysisPlots.AcrossDepth(Path.Combine(folder, "layers_pc1.png"), $"{model.Architecture}: variance explained by the first principal component",
                                  "fraction of variance (PC1)", layers, [("PC1 fraction", result.Pc1Fractions)], result.Blocks, (0, 1));
        return report;
    }

    // ---- compare --------------------------------------------------------------------------------------------

    public static IReadOnlyList<CompareReport> Compare(IReadOnlyList<string> runs, string outFolder, StreamOptions options,
                                                       IProgressReporter? progress = null)
    {
        options.Validate();
        if (runs.Count < 2) { throw new RepscopeException("compare needs at least two runs"); }
        progress ??= ProgressReporter.None;
        var reports = new List<CompareReport>();
        var names = UniqueNames(runs);
        for (int a = 0; a < runs.Count; a++)
        {
            for (int b = a + 1; b < runs.Count; b++)
            {
                var clock = Stopwatch.StartNew();
                var dirA = RunDirectory.Open(runs[a]);
                var dirB = RunDirectory.Open(runs[b]);
                using var modelA = dirA.LoadModel();
                using var modelB = dirB.LoadModel();
                var dataA = Examples(dirA.LoadTestSet(), options.Examples);
                var dataB = Examples(dirB.LoadTestSet(), options.Examples);
                if (dataA.Fingerprint != dataB.Fingerprint || dataA.Count != dataB.Count)
                {
                    throw new RepscopeException($"{runs[a]} and {runs[b]} were evaluated on different test examples (fingerprints {dataA.Fingerprint[..Math.Min(12, dataA.Fingerprint.Length)]} and {dataB.Fingerprint[..Math.Min(12, dataB.Fingerprint.Length)]}); CKA needs the same examples");
                }
                var rows = TapNames(modelA, options.Taps);
                var columns = TapNames(modelB, options.Taps);
                var matrix = LayerSimilarity.CrossModel(rows, columns, onBatch =>
                {
                    long offset = 0;
                    Pass(modelA, dataA, options.Taps, options.BatchSize, progress)((labels, tapsA) =>
                    {
                        var indices = Enumerable.Range(0, labels.Length).Select(i => offset + i).ToArray();
                        using var chunk = dataB.Subset(indices);
                        Pass(modelB, chunk, options.Taps, labels.Length, ProgressReporter.None)((_, tapsB) => onBatch(tapsA, tapsB));
                        offset += labels.Length;
                    });
                }, out var warnings);
                var report = new CompareReport(runs[a], runs[b], modelA.Architecture, modelB.Architecture, dataA.Count, options.BatchSize,
                                               options.Taps, rows, columns, Rows(matrix.Values), warnings, clock.Elapsed.TotalSeconds);
                string stem = $"compare_{names[a]}_vs_{names[b]}";
                AtomicFile.WriteJson(Path.Combine(outFolder, stem + ".json"), report);
                AnalysisPlots.CrossModelHeatmap(Path.Combine(outFolder, stem + ".png"), matrix,
                    $"CKA: {modelA.Architecture} vs {modelB.Architecture}", $"{names[a]}: {modelA.Architecture}", $"{names[b]}: {modelB.Architecture}");
                reports.Add(report);
            }
        }
        return reports;
    }

    // ---- pc -------------------------------------------------------------------------------------------------

    public static PcReport PrincipalComponents(string run, StreamOptions options, BlockOptions? blockOptions = null,
                                               FirstComponentOptions? pcOptions = null, IProgressReporter? progress = null)
    {
        progress ??= ProgressReporter.None;
        pcOptions ??= FirstComponentOptions.Default;
        var clock = Stopwatch.StartNew();
        var (model, data, layers) = Open(run, options);
        using var _ = model;
        using var __ = data;
        var r = LayerSimilarity.PrincipalComponents(layers, Pass(model, data, options, progress), pcOptions, blockOptions);
        var report = new PcReport(run, model.Architecture, data.Count, options.BatchSize, options.Taps, layers,
                                  r.Components.Select(c => c.Fraction).ToList(), Rows(r.Pc1Cosines.Values), Rows(r.Cka.Values),
                                  Rows(r.CkaWithoutPc1.Values), r.Blocks, r.BlocksWithoutPc1, pcOptions, r.Warnings, clock.Elapsed.TotalSeconds);
        string folder = AnalysisFolder(run);
        AtomicFile.WriteJson(Path.Combine(folder, "pc.json"), report);
        AnalysisPlots.WithinModelHeatmap(Path.Combine(folder, "pc.png"), r.Pc1Cosines,
            $"{model.Architecture}: squared cosine of first principal components", r.Blocks, "cos² (PC1)");
        AnalysisPlots.WithinModelHeatmap(Path.Combine(folder, "pc_cka_without_pc1.png"), r.CkaWithoutPc1,
            $"{model.Architecture}: CKA after removing each layer's PC1", r.BlocksWithoutPc1);
        AnalysisPlots.AcrossDepth(Path.Combine(folder, "pc_fraction.png"), $"{model.Architecture}: variance explained by the first principal component",
                                  "fraction of variance (PC1)", layers, [("PC1 fraction", report.Pc1Fraction)], r.Blocks, (0, 1));
        return report;
    }

    // ---- probe ----------------------------------------------------------------------------------------------

    /// <summary>
    /// Probes on the stem, every block output and every branch before its addition. The examples (the first
    /// <paramref name="options"/>.Examples test examples, all by default) are shuffled with the seed; the first
    /// <paramref name="trainExamples"/> (default: half) train the probes, the rest measure them.
    /// </summary>
    public static ProbeReport Probe(string run, StreamOptions options, long? trainExamples, ProbeOptions probeOptions,
                                    long memoryBudgetBytes = ProbeAnalysis.DefaultMemoryBudgetBytes, IProgressReporter? progress = null)
    {
        options.Validate();
        progress ??= ProgressReporter.None;
        var clock = Stopwatch.StartNew();
        var dir = RunDirectory.Open(run);
        using var model = dir.LoadModel();
        var all = Examples(dir.LoadTestSet(), options.Examples);
        var data = all.Subset(Permutation(all.Count, options.Seed));
        long train = trainExamples ?? data.Count / 2;
        var layers = TapNames(model, LayerSelection.Branches);
        long h = data.Images.shape[2], w = data.Images.shape[3];
        var pooling = new List<ProbePooling>();
        using (var probeBatch = data.Subset([0]))
        {
            Pass(model, probeBatch, LayerSelection.Branches, 1, ProgressReporter.None)((_, taps) =>
            {
                for (int i = 0; i < layers.Count; i++)
                {
                    long features = taps[i].shape[1];
                    var shape = LayerNames.SpatialShape(layers[i], features, h, w) ?? (features, 1, 1);
                    pooling.Add(ProbePooling.For(shape.C, shape.H, shape.W, probeOptions.MaxFeatures));
                }
            });
        }
        var pass = Pass(model, data, LayerSelection.Branches, options.BatchSize, progress);
        var probes = ProbeAnalysis.Run(layers, pooling, pass, data.Count, train, model.Classes, probeOptions, memoryBudgetBytes, progress);
        var (blocks, source) = KnownBlockStructure(run);
        var report = new ProbeReport(run, model.Architecture, train, data.Count - train, probeOptions, options.Seed, probes, blocks, source,
                                     clock.Elapsed.TotalSeconds);
        string folder = AnalysisFolder(run);
        AtomicFile.WriteJson(Path.Combine(folder, "probe.json"), report);
        // Across depth: x = stem and the block outputs; the branch of block k sits at block k's position.
        var axis = layers.Where(l => !LayerNames.IsBranch(l)).ToList();
        var byName = probes.ToDictionary(p => p.Layer, p => p.Result.TestAccuracy);
        var outputs = axis.Select(l => byName[l]).ToList();
        var branches = axis.Select(l => byName.TryGetValue(l + ".branch", out double v) ? v : double.NaN).ToList();
        AnalysisPlots.AcrossDepth(Path.Combine(folder, "probe.png"), $"{model.Architecture}: linear probe accuracy", "held-out accuracy", axis,
            [("block output (after the addition)", outputs), ("branch (before the addition)", branches)],
            BlocksOn(axis, blocks), (0, 1));
        return report;
    }

    // ---- prune ----------------------------------------------------------------------------------------------

    /// <summary>
    /// Block deletion on the run's test set. With <paramref name="refitHead"/> the test examples are split in two
    /// halves by a seeded shuffle: the final linear layer is re-fitted on one and every accuracy is measured on the other.
    /// </summary>
    public static PruneReport Prune(string run, int batchSize, bool refitHead, long seed, ProbeOptions? refitOptions = null,
                                    IProgressReporter? progress = null)
    {
        if (batchSize < 1) { throw new RepscopeException($"--batch-size must be positive, got {batchSize}"); }
        var clock = Stopwatch.StartNew();
        var dir = RunDirectory.Open(run);
        using var model = dir.LoadModel();
        var test = dir.LoadTestSet();
        ImageDataset evaluation = test;
        ImageDataset? fit = null;
        if (refitHead)
        {
            var order = Permutation(test.Count, seed);
            fit = test.Subset(order[..(int)(test.Count / 2)]);
            evaluation = test.Subset(order[(int)(test.Count / 2)..]);
        }
        var (blocks, source) = KnownBlockStructure(run);
        var inBlocks = new HashSet<string>();
        if (source is not null)
        {
            var layers = ReadLayers(run);
            foreach (var b in blocks) { for (int i = b.First; i <= b.Last; i++) { inBlocks.Add(layers[i]); } }
        }
        var result = Pruning.Run(model, evaluation, fit, batchSize, inBlocks, refitOptions, progress);
        var report = new PruneReport(run, model.Architecture, dir.Info.FinalTestAccuracy, refitHead, seed, result, blocks, source,
                                     clock.Elapsed.TotalSeconds);
        string folder = AnalysisFolder(run);
        AtomicFile.WriteJson(Path.Combine(folder, "prune.json"), report);
        AnalysisPlots.Pruning(Path.Combine(folder, "prune.png"), $"{model.Architecture}: accuracy as blocks are deleted", result);
        return report;
    }

    // ---- export ---------------------------------------------------------------------------------------------

    /// <summary>
    /// Writes the activations of the chosen test examples at every tap of <paramref name="taps"/> to an .npz: one
    /// float32 array per tap named after it, [n, C, H, W] (or [n, features] when not spatial), plus "labels" and
    /// "indices" (int64, the examples' positions in the test set). Holds the chosen examples' activations in memory.
    /// </summary>
    public static (int Arrays, long Examples) Export(string run, string outPath, IReadOnlyList<long> indices, LayerSelection taps, int batchSize,
                                                    IProgressReporter? progress = null)
    {
        var dir = RunDirectory.Open(run);
        using var model = dir.LoadModel();
        var test = dir.LoadTestSet();
        foreach (long i in indices)
        {
            if (i < 0 || i >= test.Count) { throw new RepscopeException($"{run}: example index {i} is outside the test set (0..{test.Count - 1})"); }
        }
        if (indices.Count == 0) { throw new RepscopeException("export: no examples chosen"); }
        var data = test.Subset(indices.ToArray());
        var names = TapNames(model, taps);
        var chunks = names.Select(_ => new List<float[]>()).ToArray();
        var features = new long[names.Count];
        var labels = new List<long>();
        Pass(model, data, taps, batchSize, progress ?? ProgressReporter.None)((batchLabels, t) =>
        {
            labels.AddRange(batchLabels);
            for (int i = 0; i < t.Count; i++)
            {
                features[i] = t[i].shape[1];
                chunks[i].Add(t[i].contiguous().data<float>().ToArray());
            }
        });
        long n = labels.Count;
        long h = data.Images.shape[2], w = data.Images.shape[3];
        IEnumerable<NdArray> Arrays()
        {
            for (int i = 0; i < names.Count; i++)
            {
                var all = chunks[i].SelectMany(c => c).ToArray();
                chunks[i].Clear();
                var shape = LayerNames.SpatialShape(names[i], features[i], h, w);
                yield return shape is { } s
                    ? NdArray.FromFloat32(names[i], all, n, s.C, s.H, s.W)
                    : NdArray.FromFloat32(names[i], all, n, features[i]);
            }
            yield return NdArray.FromInt64("labels", labels.ToArray(), n);
            yield return NdArray.FromInt64("indices", indices.ToArray(), n);
        }
        Npz.Write(outPath, Arrays());
        return (names.Count + 2, n);
    }

    // ---- helpers --------------------------------------------------------------------------------------------

    /// <summary>The run's model, its first <see cref="StreamOptions.Examples"/> test examples and the selected tap names.</summary>
    private static (ResNet Model, ImageDataset Data, IReadOnlyList<string> Layers) Open(string run, StreamOptions options)
    {
        options.Validate();
        var dir = RunDirectory.Open(run);
        var model = dir.LoadModel();
        var data = Examples(dir.LoadTestSet(), options.Examples);
        return (model, data, TapNames(model, options.Taps));
    }

    internal static ActivationPass Pass(ResNet model, ImageDataset data, StreamOptions options, IProgressReporter progress) =>
        Pass(model, data, options.Taps, options.BatchSize, progress);

    /// <summary>A pass over <paramref name="data"/> through <paramref name="model"/>, delivering the taps of <paramref name="selection"/>.</summary>
    public static ActivationPass Pass(ResNet model, ImageDataset data, LayerSelection selection, int batchSize, IProgressReporter progress)
    {
        if (selection != LayerSelection.Branches)
        {
            var set = selection == LayerSelection.All ? TapSet.All : TapSet.Blocks;
            return onBatch => Activations.Stream(model, data, batchSize, set, onBatch, progress);
        }
        var all = model.TapNames(TapSet.All);
        var keep = Enumerable.Range(0, all.Count).Where(i => IsBranchSelection(all[i])).ToArray();
        return onBatch => Activations.Stream(model, data, batchSize, TapSet.All, (labels, taps) => onBatch(labels, keep.Select(i => taps[i]).ToList()), progress);
    }

    /// <summary>The tap names of <paramref name="selection"/>, in forward order.</summary>
    public static IReadOnlyList<string> TapNames(ResNet model, LayerSelection selection) => selection switch
    {
        LayerSelection.Blocks => model.TapNames(TapSet.Blocks),
        LayerSelection.All => model.TapNames(TapSet.All),
        _ => model.TapNames(TapSet.All).Where(IsBranchSelection).ToList(),
    };

    private static bool IsBranchSelection(string tap) => tap == "stem" || LayerNames.IsBlockOutput(tap) || LayerNames.IsBranch(tap);

    private static ImageDataset Examples(ImageDataset test, int? examples)
    {
        if (examples is null || examples >= test.Count) { return test; }
        using (test) { return test.Subset(Enumerable.Range(0, examples.Value).Select(i => (long)i).ToArray()); }
    }

    internal static long[] Permutation(long n, long seed)
    {
        var gen = new torch.Generator((ulong)seed);
        using var p = torch.randperm(n, generator: gen);
        return p.data<long>().ToArray();
    }

    internal static double[][] Rows(double[,] m) =>
        Enumerable.Range(0, m.GetLength(0)).Select(i => Enumerable.Range(0, m.GetLength(1)).Select(j => m[i, j]).ToArray()).ToArray();

    private static string[] UniqueNames(IReadOnlyList<string> runs)
    {
        var names = runs.Select(r => Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(r)))).ToArray();
        for (int i = 0; i < names.Length; i++)
        {
            if (names.Count(n => n == names[i]) > 1) { names[i] = $"{names[i]}-{i + 1}"; }
        }
        return names;
    }

    /// <summary>The block structure found by an earlier `layers` run on block outputs (RUN/analysis/layers.json), if any.</summary>
    private static (IReadOnlyList<Block> Blocks, string? Source) KnownBlockStructure(string run)
    {
        string path = Path.Combine(AnalysisFolder(run), "layers.json");
        if (!File.Exists(path)) { return ([], null); }
        var report = ReadLayersReport(path);
        return (report.BlockStructure.Blocks, path);
    }

    private static IReadOnlyList<string> ReadLayers(string run) => ReadLayersReport(Path.Combine(AnalysisFolder(run), "layers.json")).Layers;

    private static LayersReport ReadLayersReport(string path)
    {
        try
        {
            return System.Text.Json.JsonSerializer.Deserialize<LayersReport>(File.ReadAllText(path), JsonDefaults.Options)
                   ?? throw new RepscopeException($"{path}: empty");
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new RepscopeException($"{path}: not a layers.json written by repscope layers ({e.Message}); delete it or rerun `repscope layers`");
        }
    }

    /// <summary>Blocks (found on some layer list) re-expressed on <paramref name="axis"/> by their first and last layer names.</summary>
    private static BlockStructureResult? BlocksOn(IReadOnlyList<string> axis, IReadOnlyList<Block> blocks)
    {
        var mapped = new List<Block>();
        foreach (var b in blocks)
        {
            int first = IndexOnAxis(axis, b.FirstLayer), last = IndexOnAxis(axis, b.LastLayer);
            if (first >= 0 && last >= first) { mapped.Add(b with { First = first, Last = last }); }
        }
        return new BlockStructureResult(BlockOptions.Default, axis.Count, mapped, double.NaN, double.NaN);
    }

    // A layer inside a block ("stage2.block3.branch.conv1") maps to its block output ("stage2.block3").
    private static int IndexOnAxis(IReadOnlyList<string> axis, string layer)
    {
        for (string l = layer; ; l = l[..l.LastIndexOf('.')])
        {
            int i = axis.ToList().IndexOf(l);
            if (i >= 0) { return i; }
            if (!l.Contains('.')) { return -1; }
        }
    }
}
