using Repscope.Analysis.Statistics;
using Repscope.Data;
using Repscope.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Analysis;

/// <summary>One point of a pruning curve: the last <see cref="Deleted"/> blocks of stage <see cref="Stage"/> deleted.</summary>
/// <param name="RefitAccuracy">Accuracy after re-fitting only the final linear layer (null without --refit-head).</param>
/// <param name="InBlockStructure">Whether the block deleted last lies inside a detected block (false when none is known).</param>
public sealed record PruneStep(int Stage, int Deleted, IReadOnlyList<string> DeletedBlocks, double Accuracy, double? RefitAccuracy, bool InBlockStructure)
{
    /// <summary>Per evaluation example, in order: whether the pruned model gets it right (mean: <see cref="Accuracy"/>). Not in JSON.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<bool>? Correct { get; init; }
}

/// <summary>Accuracy as residual blocks are deleted from the end of each stage, without retraining.</summary>
/// <param name="Baseline">Accuracy with no block deleted.</param>
public sealed record PruningResult(double Baseline, double? RefitBaseline, long EvaluationExamples, long RefitExamples,
                                 IReadOnlyList<PruneStep> Steps)
{
    /// <summary>Per evaluation example: whether the unpruned model gets it right (mean: <see cref="Baseline"/>). Not in JSON.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<bool>? BaselineCorrect { get; init; }

    /// <summary>
    /// The accuracy drop of a deletion, Baseline - step.Accuracy, with a paired percentile bootstrap interval over the
    /// evaluation examples (both were measured on the same examples).
    /// </summary>
    public Interval AccuracyDrop(PruneStep step, int replicates = Intervals.DefaultReplicates, ulong seed = Intervals.DefaultSeed,
                                 double level = Intervals.DefaultLevel)
    {
        if (BaselineCorrect is null || step.Correct is null)
        {
            throw new RepscopeException("pruning: per-example correctness is missing (results read back from JSON do not carry it)");
        }
        return Intervals.PairedDifference(BaselineCorrect, step.Correct, replicates, seed, level);
    }
}

/// <summary>
/// Residual-block deletion (Veit et al. 2016; Nguyen et al. 2021, Sec. 6): for every stage separately, delete its last
/// block, then its last two, ... up to all of them (a deleted block passes on its shortcut of the input: the
/// identity, or the 1x1 projection at the start of stages 2 and 3), and measure test accuracy each time, with
/// no retraining. Optionally the final linear layer alone is re-fitted each time (multinomial logistic regression
/// on the pooled features of the fitting examples, <see cref="LinearProbe"/>).
/// </summary>
public static class Pruning
{
    public static PruningResult Run(ResNet model, ImageDataset evaluation, ImageDataset? refitData, int batchSize,
                                  IReadOnlySet<string>? blockStructureLayers = null, ProbeOptions? refitOptions = null,
                                  IProgressReporter? progress = null)
    {
        progress ??= ProgressReporter.None;
        var saved = model.DeletedBlocks;
        var stages = model.BlockNames.GroupBy(LayerNames.StageNumber).OrderBy(g => g.Key).Select(g => g.ToList()).ToList();
        int total = 1 + stages.Sum(s => s.Count);
        using var task = progress.Start($"pruning {model.Architecture}", total);
        try
        {
            var (baseline, refitBaseline, baselineCorrect) = Evaluate(model, new HashSet<string>(), evaluation, refitData, batchSize, refitOptions);
            task.Advance(1, $"no block deleted: {baseline:P2}");
            var steps = new List<PruneStep>();
            foreach (var stage in stages)
            {
                int stageNumber = LayerNames.StageNumber(stage[0]);
                for (int k = 1; k <= stage.Count; k++)
                {
                    var deleted = stage.Skip(stage.Count - k).ToList();
                    var (acc, refit, correct) = Evaluate(model, deleted.ToHashSet(), evaluation, refitData, batchSize, refitOptions);
                    bool inBlock = blockStructureLayers?.Contains(deleted[0]) ?? false;
                    steps.Add(new PruneStep(stageNumber, k, deleted, acc, refit, inBlock) { Correct = correct });
                    task.Advance(1, $"stage {stageNumber}, {k} deleted: {acc:P2}");
                }
            }
            task.Complete($"baseline {baseline:P2}");
            return new PruningResult(baseline, refitBaseline, evaluation.Count, refitData?.Count ?? 0, steps) { BaselineCorrect = baselineCorrect };
        }
        finally
        {
            model.DeletedBlocks = saved;
        }
    }

    private static (double Accuracy, double? Refit, bool[] Correct) Evaluate(ResNet model, IReadOnlySet<string> deleted, ImageDataset evaluation,
                                                                             ImageDataset? refitData, int batchSize, ProbeOptions? refitOptions)
    {
        model.DeletedBlocks = deleted;
        if (refitData is null)
        {
            var (acc, _, correct) = Forward(model, evaluation, batchSize, capture: false);
            return (acc, null, correct);
        }
        using var scope = torch.NewDisposeScope();
        var (accuracy, evalFeatures, evalCorrect) = Forward(model, evaluation, batchSize, capture: true);
        var (_, fitFeatures, _) = Forward(model, refitData, batchSize, capture: true);
        var probe = LinearProbe.Fit("fc", fitFeatures!, refitData.Labels, evalFeatures!, evaluation.Labels, model.Classes, refitOptions);
        return (accuracy, probe.TestAccuracy, evalCorrect);
    }

    /// <summary>
    /// Accuracy of the model's own predictions and whether each example is right; with <paramref name="capture"/>, also
    /// the input of the final linear layer.
    /// </summary>
    internal static (double Accuracy, Tensor? Features, bool[] Correct) Forward(ResNet model, ImageDataset data, int batchSize, bool capture)
    {
        var pool = model.named_modules().First(m => m.name == "pool").module as nn.Module<Tensor, Tensor>
                   ?? throw new InvalidOperationException("ResNet has no 'pool' module");
        var chunks = new List<Tensor>();
        var hook = capture
            ? pool.register_forward_hook((m, input, output) =>
            {
                chunks.Add(output.detach().flatten(1).to(ScalarType.Float32).DetachFromDisposeScope());
                return output;
            })
            : null;
        bool wasTraining = model.training;
        model.eval();
        long correct = 0;
        var right = new bool[data.Count];
        try
        {
            using var noGrad = torch.no_grad();
            for (long start = 0; start < data.Count; start += batchSize)
            {
                using var scope = torch.NewDisposeScope();
                long end = Math.Min(start + batchSize, data.Count);
                var predictions = model.call(data.Images[TensorIndex.Slice(start, end)]).argmax(1).data<long>().ToArray();
                for (long i = start; i < end; i++) { if (predictions[i - start] == data.Labels[i]) { correct++; right[i] = true; } }
            }
        }
        finally
        {
            hook?.remove();
            model.train(wasTraining);
        }
        Tensor? features = null;
        if (capture)
        {
            features = torch.cat(chunks, 0);
            foreach (var c in chunks) { c.Dispose(); }
        }
        return (data.Count == 0 ? double.NaN : (double)correct / data.Count, features, right);
    }
}
