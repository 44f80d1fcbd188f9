using System.Text.Json.Serialization;

namespace Repscope.Reproduce;

/// <summary>Settings shared by every run of a reproduction (data and the optimiser recipe).</summary>
/// <param name="Data">Data set name, e.g. "fashion-mnist".</param>
/// <param name="DataPath">Folder holding it (null: the copy shipped in the repository).</param>
/// <param name="TestExamples">Evaluate (and analyse) on this many test examples, the same for every run; null: all.</param>
/// <param name="EvaluateEveryEpoch">Evaluate on the test set after every epoch (false: only after the last).</param>
/// <param name="WarmupFraction">Learning-rate warm-up as a fraction of each run's epochs.</param>
public sealed record TrainingSettings(string Data, string? DataPath, int BatchSize = 128, double LearningRate = 0.1,
                                      double WeightDecay = 5e-4, double Momentum = 0.9, bool Augment = true, int? TestExamples = null,
                                      bool EvaluateEveryEpoch = false, double WarmupFraction = 0.1)
{
    /// <summary>The plan's recipe (batch size, augmentation, warm-up, test examples, evaluation schedule) on this data; <paramref name="everyEpoch"/> overrides the plan's evaluation schedule.</summary>
    public static TrainingSettings For(ExperimentPlan plan, string data, string? dataPath, bool? everyEpoch = null) =>
        new(data, dataPath, BatchSize: plan.BatchSize, Augment: plan.Augment, TestExamples: plan.TestExamples,
            EvaluateEveryEpoch: everyEpoch ?? plan.EvaluateEveryEpoch, WarmupFraction: plan.WarmupFraction);
}

/// <summary>A block structure found in a within-model CKA matrix: layers First..Last (inclusive, indices into the layer list).</summary>
/// <param name="MeanCka">Mean pairwise CKA inside the block.</param>
/// <param name="Strength">The detector's score (0 = none).</param>
public sealed record BlockSpan(int First, int Last, double MeanCka, double Strength)
{
    public int Length => Last - First + 1;
    public bool Contains(int layer) => layer >= First && layer <= Last;
}

/// <summary>Within-model results of one run (what <c>repscope layers</c> and <c>repscope pc</c> compute).</summary>
/// <param name="Cka">Pairwise CKA of <paramref name="Layers"/>, row-major.</param>
/// <param name="Pc1Fraction">Fraction of variance explained by each layer's first principal component.</param>
/// <param name="Block">The largest block structure, or null when none was detected.</param>
/// <param name="TestAccuracy">The run's final test accuracy.</param>
public sealed record LayersResult(IReadOnlyList<string> Layers, double[][] Cka, double[] Pc1Fraction, BlockSpan? Block,
                                  double TestAccuracy, [property: JsonIgnore] byte[] HeatmapPng, [property: JsonIgnore] byte[] PcPng);

/// <summary>Cross-model CKA of two runs (rows: layers of A, columns: layers of B).</summary>
public sealed record CompareResult(IReadOnlyList<string> Rows, IReadOnlyList<string> Columns, double[][] Cka, [property: JsonIgnore] byte[] HeatmapPng);

/// <summary>Linear probe test accuracy after every layer.</summary>
public sealed record ProbeCurve(IReadOnlyList<string> Layers, double[] Accuracy, [property: JsonIgnore] byte[] Png);

/// <summary>One point of a pruning curve: the last <paramref name="Deleted"/> blocks of stage <paramref name="Stage"/> deleted.</summary>
/// <param name="NewlyDeleted">The block this step deletes on top of the previous one (the earliest of the deleted blocks).</param>
public sealed record PruneStep(int Stage, int Deleted, string NewlyDeleted, double Accuracy);

/// <summary>Test accuracy as residual blocks are deleted from the end of each stage (no retraining).</summary>
public sealed record PruneCurve(double BaselineAccuracy, IReadOnlyList<PruneStep> Steps, [property: JsonIgnore] byte[] Png);

/// <summary>One class in the wide-against-deep comparison.</summary>
public sealed record ClassComparison(string Class, double AccuracyA, double AccuracyB, double PValueCorrected, bool Significant);

/// <summary>
/// Per-example and per-class differences between two groups of runs, with the within-group
/// control (seeds of the same architecture split in two).
/// </summary>
/// <param name="SignificantClassesControl">The same count between the two halves of the control; null when a half has fewer than 2 runs.</param>
public sealed record ErrorsSummary(double AccuracyA, double AccuracyB, IReadOnlyList<ClassComparison> Classes,
                                  int SignificantClasses, int? SignificantClassesControl, [property: JsonIgnore] byte[] ScatterPng);

/// <summary>
/// What <see cref="Reproducer"/> drives: training and the analyses. The real implementation calls the
/// library (Training, Analysis); tests use a fast fake. Every method writes into run or output
/// directories and reports progress; failures are <see cref="RepscopeException"/>.
/// </summary>
public interface IReproduceBackend
{
    /// <summary>Trains <paramref name="spec"/> into <paramref name="runDir"/>; with <paramref name="resume"/>, continues from its checkpoint.</summary>
    void Train(RunSpec spec, TrainingSettings settings, string runDir, bool resume, IProgressReporter progress);

    LayersResult Layers(string runDir, IProgressReporter progress);

    CompareResult Compare(string runA, string runB, string outDir, IProgressReporter progress);

    ProbeCurve Probe(string runDir, IProgressReporter progress);

    PruneCurve Prune(string runDir, IProgressReporter progress);

    ErrorsSummary Errors(IReadOnlyList<string> groupA, IReadOnlyList<string> groupB, string outDir, IProgressReporter progress);
}
