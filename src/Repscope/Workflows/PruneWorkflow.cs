using System.Diagnostics;
using Repscope.Analysis;
using Repscope.Data;
using Repscope.Runs;

namespace Repscope.Workflows;

/// <summary>prune.json: accuracy as residual blocks are deleted, with the block structure known from layers.json.</summary>
/// <param name="RunTestAccuracy">The run's own final test accuracy (run.json), for comparison with the baseline.</param>
/// <param name="BlockStructureSource">The layers.json the block structure was read from (null: none yet, the list is empty).</param>
public sealed record PruneResult(string Run, string Architecture, double? RunTestAccuracy, bool RefitHead, long Seed, PruningResult Result,
                                 IReadOnlyList<BlockStructureSpan> BlockStructure, string? BlockStructureSource, double Seconds);

/// <summary>`repscope prune`: block deletion (<see cref="Pruning"/>) on a run's test set; writes RUN/analysis/prune.json and prune.png.</summary>
public static class PruneWorkflow
{
    public const string JsonFile = "prune.json";
    public const string PlotFile = "prune.png";

    /// <summary>
    /// With <paramref name="refitHead"/> the test examples are split in two halves by a seeded shuffle: the final linear
    /// layer is re-fitted on one and every accuracy is measured on the other.
    /// </summary>
    public static Written<PruneResult> Run(string run, int batchSize, bool refitHead, long seed, ProbeOptions? refitOptions = null,
                                           IProgressReporter? progress = null)
    {
        if (batchSize < 1) { throw new RepscopeException($"{RepscopeException.Option("batchSize")} must be positive, got {batchSize}"); }
        var clock = Stopwatch.StartNew();
        using var input = RunSource.Open(run);
        var (model, test) = (input.Model, input.Data);
        ImageDataset evaluation = test;
        ImageDataset? fit = null;
        if (refitHead)
        {
            var order = Subsets.Shuffled(test.Count, seed);
            fit = test.Subset(order[..(int)(test.Count / 2)]);
            evaluation = test.Subset(order[(int)(test.Count / 2)..]);
        }
        try
        {
            var known = LayersWorkflow.TryRead(run);
            var blocks = known?.Result.BlockStructure.Spans ?? [];
            var inBlocks = known is { } k ? BlockStructure.LayersIn(k.Result.Layers, blocks) : new HashSet<string>();
            var result = Pruning.Run(model, evaluation, fit, batchSize, inBlocks, refitOptions, progress);
            var pruned = new PruneResult(run, model.Architecture, input.Directory.Info.FinalTestAccuracy, refitHead, seed, result, blocks, known?.Path,
                                         clock.Elapsed.TotalSeconds);
            string folder = RunFormat.AnalysisPath(run);
            string json = Path.Combine(folder, JsonFile), plot = Path.Combine(folder, PlotFile);
            AtomicFile.WriteJson(json, pruned);
            AnalysisPlots.Pruning(plot, $"{model.Architecture}: accuracy as blocks are deleted", result);
            return new Written<PruneResult>(pruned, [json, plot]);
        }
        finally
        {
            fit?.Dispose();
            if (evaluation != test) { evaluation.Dispose(); }
        }
    }
}
