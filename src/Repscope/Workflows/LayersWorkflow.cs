using System.Diagnostics;
using System.Text.Json;
using Repscope.Analysis;
using Repscope.Models;
using Repscope.Runs;
using Repscope.Similarity;
using Repscope.Spectral;

namespace Repscope.Workflows;

/// <summary>layers.json: the within-model CKA map, PC1 fractions and block structure of one run.</summary>
/// <param name="Pc1Fraction">Empty, and <paramref name="PcOptions"/> null, when merged from shards (PC1 needs every example in one job).</param>
public sealed record LayersResult(string Run, string Architecture, long Examples, int BatchSize, int Epochs, TapSet Taps, int Batches,
                                  IReadOnlyList<string> Layers, double[][] Cka, IReadOnlyList<double> Pc1Fraction,
                                  BlockStructureResult BlockStructure, FirstComponentOptions? PcOptions, IReadOnlyList<string> Warnings, double Seconds)
{
    /// <summary>The number of shards (`repscope layers --shard K/N`) `repscope merge` combined into this result; null for one unsharded run.</summary>
    public int? MergedShards { get; init; }

    /// <summary>The relative, threshold-free block-structure score (docs/block-structure.md) with its bootstrap interval over batches;
    /// null for fewer than 2 layers (and in layers.json written before the score existed).</summary>
    public BlockStructureScoreBootstrap? BlockStructureScore { get; init; }

    /// <summary>The measure of <see cref="Cka"/> and its settings: minibatch linear CKA (null in layers.json written before it was recorded).</summary>
    public MapMeasure? Measure { get; init; }
}

/// <summary>
/// layers_MEASURE.json: the within-model map of one run (or ONNX model) under a whole-data measure (not CKA).
/// <c>Values[i][j]</c> is measure(layer i, layer j), null where undefined (<see cref="Undefined"/> says why); for PWCCA the
/// weights come from the row layer i.
/// </summary>
/// <param name="BlockStructureScore">The threshold-free block-structure score of the map (point value: no batches to
/// bootstrap over); null for fewer than 2 layers.</param>
public sealed record LayersMeasureResult(string Run, string Architecture, long Examples, TapSet Taps, IReadOnlyList<string> Layers,
                                         MapMeasure Measure, double[][] Values, IReadOnlyList<string> Undefined,
                                         BlockStructureScoreResult? BlockStructureScore, double Seconds);

/// <summary>
/// `repscope layers`: streams a run's test examples (or an ONNX model's inputs) through the model, computes minibatch CKA between every pair of
/// taps, the first principal component of each and the block structure (<see cref="LayerSimilarity.WithinModel"/>),
/// and writes layers.json, layers.png (heatmap) and layers_pc1.png (PC1 fraction across depth) into RUN/analysis/ or a chosen folder.
/// </summary>
public static class LayersWorkflow
{
    public const string JsonFile = "layers.json";
    public const string HeatmapFile = "layers.png";
    public const string Pc1File = "layers_pc1.png";
    public const string BatchStateFile = "layers_batches.npz";

    /// <summary>A run: its first <see cref="StreamOptions.Examples"/> test examples; writes into RUN/analysis/.</summary>
    public static Written<LayersResult> Run(string run, StreamOptions options, BlockStructureOptions? blockOptions = null,
                                            FirstComponentOptions? pcOptions = null, IProgressReporter? progress = null)
    {
        using var source = new RunSource(run, options);
        return Run(source, RunFormat.AnalysisPath(run), options, blockOptions, pcOptions, progress);
    }

    /// <summary>
    /// Any activation source (a run or an ONNX model); writes into <paramref name="outFolder"/>. Epochs after the first
    /// stream the examples in a seeded shuffle, which needs a <see cref="RunSource"/>.
    /// </summary>
    public static Written<LayersResult> Run(IActivationSource source, string outFolder, StreamOptions options, BlockStructureOptions? blockOptions = null,
                                            FirstComponentOptions? pcOptions = null, IProgressReporter? progress = null)
    {
        options.Validate();
        if (options.Epochs != 1 && source is not RunSource)
        {
            throw new RepscopeException($"{source.Path}: {RepscopeException.Option("epochs")} above 1 needs a run directory (its test set is shuffled per epoch); got {options.Epochs}");
        }
        progress ??= ProgressReporter.None;
        pcOptions ??= FirstComponentOptions.Default;
        var clock = Stopwatch.StartNew();
        var layers = source.Layers;
        // Epoch 1 in example order, every later epoch in its own seeded shuffle.
        var passes = new List<ActivationPass> { source.Pass(0, source.Examples, options.BatchSize, progress) };
        passes.AddRange(Enumerable.Range(1, options.Epochs - 1).Select(e => ((RunSource)source).ShuffledPass(options.Seed + e, options.BatchSize, progress)));
        var r = LayerSimilarity.WithinModel(layers, passes, pcOptions, blockOptions);
        var result = new LayersResult(source.Path, source.Architecture, source.Examples, options.BatchSize, options.Epochs, source.Taps, r.Batches,
                                      layers, r.Cka.ValueRows(), r.Pc1Fractions, r.BlockStructure, pcOptions, r.Warnings, clock.Elapsed.TotalSeconds)
        {
            BlockStructureScore = r.Score,
            Measure = MapMeasure.MinibatchCka(options.BatchSize),
        };
        return Write(result, r.Cka, r.BatchState, outFolder);
    }

    /// <summary>
    /// Writes layers.json, layers.png, layers_pc1.png (when <paramref name="result"/> has PC1 fractions) and the per-batch
    /// state (when given) into <paramref name="outFolder"/>; files in that order.
    /// </summary>
    public static Written<LayersResult> Write(LayersResult result, CkaMatrix cka, CkaBatchState? state, string outFolder)
    {
        string json = Path.Combine(outFolder, JsonFile), heatmap = Path.Combine(outFolder, HeatmapFile), pc1 = Path.Combine(outFolder, Pc1File);
        bool withPc1 = result.Pc1Fraction.Count > 0;
        var files = new List<string> { json, heatmap };
        if (withPc1) { files.Add(pc1); }
        AtomicFile.WriteJson(json, result);
        if (state is not null)
        {
            // Each batch's HSIC values: a later call can bootstrap this map again without the model (CkaBatchState.Load).
            string batches = Path.Combine(outFolder, BatchStateFile);
            state.Save(batches);
            files.Add(batches);
        }
        AnalysisPlots.WithinModelHeatmap(heatmap, cka, $"{result.Architecture}: CKA between layers", result.BlockStructure, score: result.BlockStructureScore);
        if (withPc1)
        {
            AnalysisPlots.AcrossDepth(pc1, $"{result.Architecture}: variance explained by the first principal component",
                                      "fraction of variance (PC1)", result.Layers, [("PC1 fraction", result.Pc1Fraction)], result.BlockStructure, (0, 1));
        }
        return new Written<LayersResult>(result, files);
    }

    /// <summary>File name (without extension) of the map under a whole-data measure: layers_cca, layers_pwcca, ...</summary>
    public static string MeasureStem(SimilarityMeasure measure) => $"layers_{measure.ToString().ToLowerInvariant()}";

    /// <summary>A run under a whole-data measure (not CKA): its first <see cref="StreamOptions.Examples"/> test examples; writes into RUN/analysis/.</summary>
    public static Written<LayersMeasureResult> Run(string run, StreamOptions options, SimilarityMeasure measure, MeasureOptions? measureOptions = null,
                                                   IProgressReporter? progress = null)
    {
        using var source = new RunSource(run, options);
        return Run(source, RunFormat.AnalysisPath(run), options, measure, measureOptions, progress);
    }

    /// <summary>
    /// Any activation source under a whole-data measure (cca, svcca, pwcca, procrustes, rsa; docs/measures.md): every layer against
    /// every layer on all the source's examples (<see cref="MeasureMaps.WithinModel"/>: one decomposition per layer), scored with
    /// the block-structure score; writes layers_MEASURE.json and layers_MEASURE.png into <paramref name="outFolder"/>.
    /// </summary>
    public static Written<LayersMeasureResult> Run(IActivationSource source, string outFolder, StreamOptions options, SimilarityMeasure measure,
                                                   MeasureOptions? measureOptions = null, IProgressReporter? progress = null)
    {
        options.Validate();
        if (measure == SimilarityMeasure.Cka) { throw new RepscopeException("measure: CKA streams in minibatches: use the run without a measure"); }
        if (options.Epochs != 1) { throw new RepscopeException($"epochs: {options.Epochs} passes apply to minibatch CKA; {Measures.Label(measure)} uses the whole data once"); }
        measureOptions = (measureOptions ?? MeasureOptions.Default).Validated();
        var clock = Stopwatch.StartNew();
        var map = MeasureMaps.WithinModel(source, measure, measureOptions, options.BatchSize, progress);
        var score = MeasureMaps.Score(map.Matrix);
        var result = new LayersMeasureResult(source.Path, source.Architecture, source.Examples, source.Taps, source.Layers,
                                             MapMeasure.WholeData(measure, measureOptions, source.Examples, MeasureMaps.DefaultBudgetBytes),
                                             map.Matrix.ValueRows(), map.Undefined, score, clock.Elapsed.TotalSeconds);
        string stem = Path.Combine(outFolder, MeasureStem(measure));
        string json = stem + ".json", heatmap = stem + ".png";
        AtomicFile.WriteJson(json, result);
        AnalysisPlots.MeasureHeatmap(heatmap, map, $"{source.Architecture}: {Measures.Label(measure)} between layers", score);
        return new Written<LayersMeasureResult>(result, [json, heatmap]);
    }

    /// <summary>Reads a layers.json written by <see cref="Run"/>; anything else is a RepscopeException naming the file.</summary>
    public static LayersResult Read(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<LayersResult>(File.ReadAllText(path), JsonDefaults.Options)
                   ?? throw new RepscopeException($"{path}: empty");
        }
        catch (JsonException e)
        {
            throw new RepscopeException($"{path}: not a layers.json written by repscope layers ({e.Message}); delete it or rerun `repscope layers`");
        }
    }

    /// <summary>The result of an earlier run of <see cref="Run"/> on <paramref name="run"/> (RUN/analysis/layers.json) and its path, if there is one.</summary>
    public static (LayersResult Result, string Path)? TryRead(string run)
    {
        string path = Path.Combine(RunFormat.AnalysisPath(run), JsonFile);
        return File.Exists(path) ? (Read(path), path) : null;
    }
}
