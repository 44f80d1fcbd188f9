using System.Diagnostics;
using Repscope.Analysis;
using Repscope.Data;
using Repscope.Models;
using Repscope.Runs;

namespace Repscope.Workflows;

/// <summary>probe.json: linear probe accuracy on every tap of one run, with the block structure known from layers.json.</summary>
/// <param name="BlockStructureSource">The layers.json the block structure was read from (null: none yet, the list is empty).</param>
public sealed record ProbeResult(string Run, string Architecture, long TrainExamples, long TestExamples, ProbeOptions Options, long Seed,
                                 IReadOnlyList<LayerProbe> Probes, IReadOnlyList<Block> BlockStructure, string? BlockStructureSource, double Seconds);

/// <summary>
/// `repscope probe`: linear probes (<see cref="ProbeAnalysis"/>) on the stem, every residual block output and every
/// branch before its addition (<see cref="TapSet.Branches"/>); writes RUN/analysis/probe.json and probe.png.
/// </summary>
public static class ProbeWorkflow
{
    public const string JsonFile = "probe.json";
    public const string PlotFile = "probe.png";

    /// <summary>
    /// The examples (the first <paramref name="options"/>.Examples test examples, all by default) are shuffled with
    /// <paramref name="options"/>.Seed; the first <paramref name="trainExamples"/> (default: half) train the probes, the
    /// rest measure them. <paramref name="options"/>.Taps is ignored (always <see cref="TapSet.Branches"/>).
    /// </summary>
    public static Written<ProbeResult> Run(string run, StreamOptions options, long? trainExamples, ProbeOptions probeOptions,
                                           long memoryBudgetBytes = ProbeAnalysis.DefaultMemoryBudgetBytes, IProgressReporter? progress = null)
    {
        progress ??= ProgressReporter.None;
        var clock = Stopwatch.StartNew();
        using var input = new RunSource(run, options);
        var model = input.Model;
        using var data = input.Data.Subset(Subsets.Shuffled(input.Data.Count, options.Seed));
        long train = trainExamples ?? data.Count / 2;
        var layers = model.TapNames(TapSet.Branches);
        long h = data.Images.shape[2], w = data.Images.shape[3];
        var pooling = new List<ProbePooling>();
        using (var first = data.Subset([0]))
        {
            Activations.Stream(model, first, 1, TapSet.Branches, (_, taps) =>
            {
                for (int i = 0; i < layers.Count; i++) { pooling.Add(ProbePooling.ForLayer(layers[i], taps[i].shape[1], h, w, probeOptions.MaxFeatures)); }
            });
        }
        var pass = Activations.Pass(model, data, options.BatchSize, TapSet.Branches, progress);
        var probes = ProbeAnalysis.Run(layers, pooling, pass, data.Count, train, model.Classes, probeOptions, memoryBudgetBytes, progress);
        var known = LayersWorkflow.TryRead(run);
        var blocks = known?.Result.BlockStructure.Blocks ?? [];
        var result = new ProbeResult(run, model.Architecture, train, data.Count - train, probeOptions, options.Seed, probes, blocks, known?.Path,
                                     clock.Elapsed.TotalSeconds);
        string folder = RunFormat.AnalysisPath(run);
        string json = Path.Combine(folder, JsonFile), plot = Path.Combine(folder, PlotFile);
        AtomicFile.WriteJson(json, result);
        AnalysisPlots.ProbeAccuracy(plot, $"{model.Architecture}: linear probe accuracy", probes, blocks);
        return new Written<ProbeResult>(result, [json, plot]);
    }
}
