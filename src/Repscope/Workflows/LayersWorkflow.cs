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
}

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
    public static Written<LayersResult> Run(string run, StreamOptions options, BlockOptions? blockOptions = null,
                                            FirstComponentOptions? pcOptions = null, IProgressReporter? progress = null)
    {
        using var source = new RunSource(run, options);
        return Run(source, RunFormat.AnalysisPath(run), options, blockOptions, pcOptions, progress);
    }

    /// <summary>
    /// Any activation source (a run or an ONNX model); writes into <paramref name="outFolder"/>. Epochs after the first
    /// stream the examples in a seeded shuffle, which needs a <see cref="RunSource"/>.
    /// </summary>
    public static Written<LayersResult> Run(IActivationSource source, string outFolder, StreamOptions options, BlockOptions? blockOptions = null,
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
                                      layers, r.Cka.ValueRows(), r.Pc1Fractions, r.Blocks, pcOptions, r.Warnings, clock.Elapsed.TotalSeconds)
        {
            BlockStructureScore = r.Score,
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
