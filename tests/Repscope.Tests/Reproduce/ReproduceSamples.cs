using Repscope.Analysis;
using Repscope.Models;
using Repscope.Reproduce;
using Repscope.Spectral;
using Repscope.Workflows;

namespace Repscope.Tests.Reproduce;

/// <summary>The workflows' result records filled with synthetic numbers, as the backends return them to <see cref="Reproducer"/>.</summary>
internal static class ReproduceSamples
{
    private static BlockStructureResult NoBlockStructure(int layers) => new(new BlockStructureOptions(), layers, [], 0, 0);

    /// <summary>Within-model maps of <paramref name="layers"/> (pc.json) and the run's test accuracy.</summary>
    public static WithinModelMaps Layers(IReadOnlyList<string> layers, double[][] cka, double[][] ckaWithoutPc1, double[] pc1Fraction, double testAccuracy) =>
        new(new PcResult("run", "ResNet", 400, 256, TapSet.Branches, layers, pc1Fraction, [], cka, ckaWithoutPc1,
                         NoBlockStructure(layers.Count), NoBlockStructure(layers.Count), FirstComponentOptions.Default, [], 0), testAccuracy);

    /// <summary>A cross-model map without per-minibatch HSIC values (so without a bootstrap).</summary>
    public static WithFigure<CompareResult> Compare(IReadOnlyList<string> rows, IReadOnlyList<string> columns, double[][] cka, byte[] png) =>
        new(new CompareResult("a", "b", "ResNet", "ResNet", 400, 256, TapSet.Branches, rows, columns, cka, [], 0), png);

    /// <summary>Probes of <paramref name="layers"/> with these held-out accuracies and, when given, per-example correctness.</summary>
    public static WithFigure<ProbeResult> Probe(IReadOnlyList<string> layers, IReadOnlyList<double> accuracy, long testExamples, byte[] png,
                                                IReadOnlyList<bool[]>? correct = null)
    {
        var probes = layers.Select((l, i) => new LayerProbe(l, "none", new ProbeFit(l, 16, 1000, testExamples, 1, accuracy[i], 0.5, 10)
        {
            TestCorrect = correct?[i],
        })).ToList();
        return new(new ProbeResult("run", "ResNet", ProbeWorkflow.FitOnTrainingSet, 1000, testExamples, ProbeOptions.Default, 0, probes, [], null, 0), png);
    }

    /// <summary>One deletion step: the last <paramref name="deleted"/> residual blocks of <paramref name="stage"/>, <paramref name="newlyDeleted"/> the earliest of them.</summary>
    public static PruneStep Step(int stage, int deleted, string newlyDeleted, double accuracy, bool[]? correct = null) =>
        new(stage, deleted, [newlyDeleted], accuracy, null, false) { Correct = correct };

    public static WithFigure<PruneResult> Prune(double baseline, IReadOnlyList<PruneStep> steps, byte[] png, bool[]? baselineCorrect = null) =>
        new(new PruneResult("run", "ResNet", baseline, false, 0,
                            new PruningResult(baseline, null, 400, 0, steps) { BaselineCorrect = baselineCorrect }, [], null, 0), png);
}
