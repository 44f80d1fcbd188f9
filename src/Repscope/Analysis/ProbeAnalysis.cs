using Repscope.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Analysis;

/// <summary>A probe of one layer, with how its features were made.</summary>
public sealed record LayerProbe(string Layer, string Pooling, ProbeFit Result);

/// <summary>
/// Linear probes on many layers over one <see cref="ActivationPass"/>: the first <c>trainExamples</c> rows of the
/// pass train the probes, the rest test them. The pooled features of as many layers as fit in
/// <c>memoryBudgetBytes</c> are gathered in one pass, their probes fitted, then the next group: memory stays
/// bounded by the budget (plus one batch), at the cost of one pass per group.
/// </summary>
public static class ProbeAnalysis
{
    public const long DefaultMemoryBudgetBytes = 1L << 30;

    public static IReadOnlyList<LayerProbe> Run(IReadOnlyList<string> layers, IReadOnlyList<ProbePooling> pooling, ActivationPass pass,
        long examples, long trainExamples, int classes, ProbeOptions? options = null,
        long memoryBudgetBytes = DefaultMemoryBudgetBytes, IProgressReporter? progress = null)
    {
        if (pooling.Count != layers.Count) { throw new ArgumentException("one pooling per layer", nameof(pooling)); }
        if (trainExamples < 1 || trainExamples >= examples)
        {
            throw new RepscopeException($"probes: {trainExamples} training examples out of {examples}; need at least 1 for training and 1 for testing");
        }
        progress ??= ProgressReporter.None;
        var groups = new List<List<int>>();
        long used = long.MaxValue;
        for (int i = 0; i < layers.Count; i++)
        {
            long bytes = examples * pooling[i].Features * sizeof(float);
            if (groups.Count == 0 || used + bytes > memoryBudgetBytes) { groups.Add([]); used = 0; }
            groups[^1].Add(i);
            used += bytes;
        }
        var results = new LayerProbe?[layers.Count];
        using var task = progress.Start("linear probes", layers.Count);
        foreach (var group in groups)
        {
            var store = group.Select(i => torch.empty([examples, pooling[i].Features], ScalarType.Float32).DetachFromDisposeScope()).ToList();
            var labels = new long[examples];
            try
            {
                long row = 0;
                pass((batchLabels, taps) =>
                {
                    using var scope = torch.NewDisposeScope();
                    long b = batchLabels.Length;
                    if (row + b > examples) { throw new RepscopeException($"probes: the activations have more than the {examples} examples expected"); }
                    Array.Copy(batchLabels, 0, labels, row, b);
                    for (int g = 0; g < group.Count; g++)
                    {
                        store[g].narrow(0, row, b).copy_(pooling[group[g]].Apply(taps[group[g]]));
                    }
                    row += b;
                });
                if (row != examples) { throw new RepscopeException($"probes: the activations have {row} examples, expected {examples}"); }
                var trainLabels = labels[..(int)trainExamples];
                var testLabels = labels[(int)trainExamples..];
                for (int g = 0; g < group.Count; g++)
                {
                    int i = group[g];
                    var x = store[g];
                    var r = LinearProbe.Fit(layers[i], x.narrow(0, 0, trainExamples), trainLabels,
                                            x.narrow(0, trainExamples, examples - trainExamples), testLabels, classes, options);
                    results[i] = new LayerProbe(layers[i], pooling[i].ToString(), r);
                    task.Advance(1, $"{layers[i]}: {r.TestAccuracy:P1}");
                }
            }
            finally
            {
                foreach (var t in store) { t.Dispose(); }
            }
        }
        task.Complete();
        return results.Select(r => r!).ToList();
    }
}
