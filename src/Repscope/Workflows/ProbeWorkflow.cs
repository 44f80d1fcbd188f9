using System.Diagnostics;
using Repscope.Analysis;
using Repscope.Data;
using Repscope.Models;
using Repscope.Runs;

namespace Repscope.Workflows;

/// <summary>probe.json: linear probe accuracy on every tap of one run, with the block structure known from layers.json.</summary>
/// <param name="FitOn">What trained the probes: <see cref="ProbeWorkflow.FitOnTrainingSet"/> (the run's training images, tested on
/// its test examples) or <see cref="ProbeWorkflow.FitOnTestSplit"/> (part of the shuffled test examples, tested on the rest).</param>
/// <param name="BlockStructureSource">The layers.json the block structure was read from (null: none yet, the list is empty).</param>
public sealed record ProbeResult(string Run, string Architecture, string FitOn, long TrainExamples, long TestExamples, ProbeOptions Options, long Seed,
                                 IReadOnlyList<LayerProbe> Probes, IReadOnlyList<BlockStructureSpan> BlockStructure, string? BlockStructureSource, double Seconds);

/// <summary>
/// `repscope probe`: linear probes (<see cref="ProbeAnalysis"/>) on the stem, every residual block output and every
/// branch before its addition (<see cref="TapSet.Branches"/>); writes RUN/analysis/probe.json and probe.png.
/// </summary>
public static class ProbeWorkflow
{
    public const string JsonFile = "probe.json";
    public const string PlotFile = "probe.png";
    public const string FitOnTrainingSet = "training-set";
    public const string FitOnTestSplit = "test-split";

    /// <summary>
    /// Without <paramref name="trainExamples"/> (the default, as in the paper) the probes are trained on the run's own
    /// training images (no augmentation) and measured on its test examples (the first <paramref name="options"/>.Examples,
    /// all by default, in test-set order). With <paramref name="trainExamples"/> = N the test examples are shuffled with
    /// <paramref name="options"/>.Seed, the first N train the probes and the rest measure them (for models whose training
    /// data is not at hand). <paramref name="options"/>.Taps is ignored (always <see cref="TapSet.Branches"/>).
    /// </summary>
    public static Written<ProbeResult> Run(string run, StreamOptions options, long? trainExamples, ProbeOptions probeOptions,
                                           long memoryBudgetBytes = ProbeAnalysis.DefaultMemoryBudgetBytes, IProgressReporter? progress = null)
    {
        progress ??= ProgressReporter.None;
        var clock = Stopwatch.StartNew();
        using var input = new RunSource(run, options);
        var model = input.Model;
        var layers = model.TapNames(TapSet.Branches);
        long h = input.Data.Height, w = input.Data.Width;   // not Images: that would normalise every example at once
        var pooling = new List<ProbePooling>();
        using (var first = input.Data.Subset([0]))
        {
            Activations.Stream(model, first, 1, TapSet.Branches, (_, taps) =>
            {
                for (int i = 0; i < layers.Count; i++) { pooling.Add(ProbePooling.ForLayer(layers[i], taps[i].shape[1], h, w, probeOptions.MaxFeatures)); }
            });
        }
        IReadOnlyList<LayerProbe> probes;
        long train, test;
        string fitOn;
        if (trainExamples is { } n)
        {
            using var data = input.Data.Subset(Subsets.Shuffled(input.Data.Count, options.Seed));
            var pass = Activations.Pass(model, data, options.BatchSize, TapSet.Branches, progress);
            probes = ProbeAnalysis.Run(layers, pooling, pass, data.Count, n, model.Classes, probeOptions, memoryBudgetBytes, progress);
            (train, test, fitOn) = (n, data.Count - n, FitOnTestSplit);
        }
        else
        {
            using var trainSet = input.Directory.LoadTrainSet(progress);
            var trainPass = Activations.Pass(model, trainSet, options.BatchSize, TapSet.Branches, progress);
            var testPass = Activations.Pass(model, input.Data, options.BatchSize, TapSet.Branches, progress);
            probes = ProbeAnalysis.RunHeldOut(layers, pooling, trainPass, trainSet.Count, testPass, input.Data.Count, model.Classes, probeOptions,
                                              memoryBudgetBytes, progress);
            (train, test, fitOn) = (trainSet.Count, input.Data.Count, FitOnTrainingSet);
        }
        var known = LayersWorkflow.TryRead(run);
        var blocks = known?.Result.BlockStructure.Spans ?? [];
        var result = new ProbeResult(run, model.Architecture, fitOn, train, test, probeOptions, options.Seed, probes, blocks, known?.Path,
                                     clock.Elapsed.TotalSeconds);
        string folder = RunFormat.AnalysisPath(run);
        string json = Path.Combine(folder, JsonFile), plot = Path.Combine(folder, PlotFile);
        AtomicFile.WriteJson(json, result);
        AnalysisPlots.ProbeAccuracy(plot, $"{model.Architecture}: linear probe accuracy", probes, blocks);
        return new Written<ProbeResult>(result, [json, plot]);
    }
}
