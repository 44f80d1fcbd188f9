using System.Diagnostics;
using System.Text.Json;
using Repscope.Analysis;
using Repscope.Data;
using Repscope.Models;
using Repscope.Runs;
using Repscope.Spectral;

namespace Repscope.Workflows;

/// <summary>layers.json: the within-model CKA map, PC1 fractions and block structure of one run.</summary>
public sealed record LayersResult(string Run, string Architecture, long Examples, int BatchSize, int Epochs, TapSet Taps, int Batches,
                                  IReadOnlyList<string> Layers, double[][] Cka, IReadOnlyList<double> Pc1Fraction,
                                  BlockStructureResult BlockStructure, FirstComponentOptions PcOptions, IReadOnlyList<string> Warnings, double Seconds);

/// <summary>
/// `repscope layers`: streams a run's test examples through its model, computes minibatch CKA between every pair of
/// taps, the first principal component of each and the block structure (<see cref="LayerSimilarity.WithinModel"/>),
/// and writes RUN/analysis/layers.json, layers.png (heatmap) and layers_pc1.png (PC1 fraction across depth).
/// </summary>
public static class LayersWorkflow
{
    public const string JsonFile = "layers.json";
    public const string HeatmapFile = "layers.png";
    public const string Pc1File = "layers_pc1.png";

    public static Written<LayersResult> Run(string run, StreamOptions options, BlockOptions? blockOptions = null,
                                            FirstComponentOptions? pcOptions = null, IProgressReporter? progress = null)
    {
        progress ??= ProgressReporter.None;
        pcOptions ??= FirstComponentOptions.Default;
        var clock = Stopwatch.StartNew();
        using var input = RunInput.Open(run, options);
        var (model, data) = (input.Model, input.Data);
        var layers = model.TapNames(options.Taps);
        // Epoch 1 in test-set order, every later epoch in its own seeded shuffle.
        var shuffles = Enumerable.Range(1, options.Epochs - 1).Select(e => data.Subset(Subsets.Shuffled(data.Count, options.Seed + e))).ToList();
        try
        {
            var passes = new[] { data }.Concat(shuffles).Select(d => Activations.Pass(model, d, options.BatchSize, options.Taps, progress)).ToList();
            var r = LayerSimilarity.WithinModel(layers, passes, pcOptions, blockOptions);
            var result = new LayersResult(run, model.Architecture, data.Count, options.BatchSize, options.Epochs, options.Taps, r.Batches,
                                          layers, r.Cka.ValueRows(), r.Pc1Fractions, r.Blocks, pcOptions, r.Warnings, clock.Elapsed.TotalSeconds);
            string folder = RunFormat.AnalysisPath(run);
            string json = Path.Combine(folder, JsonFile), heatmap = Path.Combine(folder, HeatmapFile), pc1 = Path.Combine(folder, Pc1File);
            AtomicFile.WriteJson(json, result);
            AnalysisPlots.WithinModelHeatmap(heatmap, r.Cka, $"{model.Architecture}: CKA between layers", r.Blocks);
            AnalysisPlots.AcrossDepth(pc1, $"{model.Architecture}: variance explained by the first principal component",
                                      "fraction of variance (PC1)", layers, [("PC1 fraction", r.Pc1Fractions)], r.Blocks, (0, 1));
            return new Written<LayersResult>(result, [json, heatmap, pc1]);
        }
        finally
        {
            foreach (var s in shuffles) { s.Dispose(); }
        }
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
