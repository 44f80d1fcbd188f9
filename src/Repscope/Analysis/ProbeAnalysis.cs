using Repscope.Analysis.Statistics;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Analysis;

/// <summary>A probe of one layer, with how its features were made.</summary>
public sealed record LayerProbe(string Layer, string Pooling, ProbeResult Result);

/// <summary>
/// Linear probes on many layers. <see cref="Run"/>: over one <see cref="ActivationPass"/>, the first
/// <c>trainExamples</c> rows train the probes, the rest test them. <see cref="RunHeldOut"/>: probes trained on one
/// pass (e.g. training images) and tested on another (held-out test images). The pooled features of as many layers
/// as fit in <c>memoryBudgetBytes</c> are gathered per pass, their probes fitted, then the next group: memory
/// stays bounded by the budget (plus one batch), at the cost of one pass per group. Every probe's result carries
/// per-example correctness on its test examples (<see cref="ProbeResult.TestCorrect"/>).
/// </summary>
public static class ProbeAnalysis
{
    public const long DefaultMemoryBudgetBytes = 1L << 30;

    /// <summary>Probes trained on the first <paramref name="trainExamples"/> rows of one pass, tested on the rest.</summary>
    public static IReadOnlyList<LayerProbe> Run(IReadOnlyList<string> layers, IReadOnlyList<ProbePooling> pooling, ActivationPass pass,
        long examples, long trainExamples, int classes, ProbeOptions? options = null,
        long memoryBudgetBytes = DefaultMemoryBudgetBytes, IProgressReporter? progress = null)
    {
        if (trainExamples < 1 || trainExamples >= examples)
        {
            throw new RepscopeException($"probes: {trainExamples} training examples out of {examples}; need at least 1 for training and 1 for testing");
        }
        return Probe(layers, pooling, examples, classes, options, memoryBudgetBytes, progress, group =>
        {
            var (store, labels) = Gather(pass, group, pooling, examples);
            var train = store.Select(x => x.narrow(0, 0, trainExamples)).ToList();
            var test = store.Select(x => x.narrow(0, trainExamples, examples - trainExamples)).ToList();
            return (store, train, labels[..(int)trainExamples], test, labels[(int)trainExamples..]);
        });
    }

    /// <summary>
    /// Probes trained on every example of <paramref name="trainPass"/> (e.g. the training images, without
    /// augmentation) and tested on every example of <paramref name="testPass"/> (held-out images).
    /// </summary>
    public static IReadOnlyList<LayerProbe> RunHeldOut(IReadOnlyList<string> layers, IReadOnlyList<ProbePooling> pooling,
        ActivationPass trainPass, long trainExamples, ActivationPass testPass, long testExamples, int classes, ProbeOptions? options = null,
        long memoryBudgetBytes = DefaultMemoryBudgetBytes, IProgressReporter? progress = null)
    {
        if (trainExamples < 1 || testExamples < 1)
        {
            throw new RepscopeException($"probes: {trainExamples} training and {testExamples} test examples; need at least 1 of each");
        }
        return Probe(layers, pooling, trainExamples + testExamples, classes, options, memoryBudgetBytes, progress, group =>
        {
            var (train, trainLabels) = Gather(trainPass, group, pooling, trainExamples);
            try
            {
                var (test, testLabels) = Gather(testPass, group, pooling, testExamples);
                return ([.. train, .. test], train, trainLabels, test, testLabels);
            }
            catch
            {
                foreach (var t in train) { t.Dispose(); }
                throw;
            }
        });
    }

    /// <summary>
    /// The signed change of held-out accuracy from probe <paramref name="from"/> to probe <paramref name="to"/> (e.g. the
    /// first and last layer of a block structure), accuracy(to) - accuracy(from), with a paired percentile bootstrap
    /// interval over the test examples both were scored on.
    /// </summary>
    public static Interval AccuracyChange(ProbeResult from, ProbeResult to, int replicates = Intervals.DefaultReplicates,
                                          ulong seed = Intervals.DefaultSeed, double level = Intervals.DefaultLevel)
    {
        if (from.TestCorrect is null || to.TestCorrect is null)
        {
            throw new RepscopeException($"probes '{from.Layer}' and '{to.Layer}': per-example correctness is missing (results read back from JSON do not carry it)");
        }
        return Intervals.PairedDifference(to.TestCorrect, from.TestCorrect, replicates, seed, level);
    }

    private delegate (List<Tensor> Owned, List<Tensor> Train, long[] TrainLabels, List<Tensor> Test, long[] TestLabels) GroupFeatures(List<int> group);

    private static IReadOnlyList<LayerProbe> Probe(IReadOnlyList<string> layers, IReadOnlyList<ProbePooling> pooling, long examples, int classes,
        ProbeOptions? options, long memoryBudgetBytes, IProgressReporter? progress, GroupFeatures features)
    {
        if (pooling.Count != layers.Count) { throw new ArgumentException("one pooling per layer", nameof(pooling)); }
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
            var (owned, train, trainLabels, test, testLabels) = features(group);
            try
            {
                for (int g = 0; g < group.Count; g++)
                {
                    int i = group[g];
                    var r = LinearProbe.Fit(layers[i], train[g], trainLabels, test[g], testLabels, classes, options);
                    results[i] = new LayerProbe(layers[i], pooling[i].ToString(), r);
                    task.Advance(1, $"{layers[i]}: {r.TestAccuracy:P1}");
                }
            }
            finally
            {
                foreach (var t in owned) { t.Dispose(); }
            }
        }
        task.Complete();
        return results.Select(r => r!).ToList();
    }

    /// <summary>One pass: the pooled features of the group's layers ([examples, features] float32 each) and the labels.</summary>
    private static (List<Tensor> Store, long[] Labels) Gather(ActivationPass pass, List<int> group, IReadOnlyList<ProbePooling> pooling, long examples)
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
            return (store, labels);
        }
        catch
        {
            foreach (var t in store) { t.Dispose(); }
            throw;
        }
    }
}
