using System.Text.Json.Serialization;
using Repscope.Analysis.Statistics;
using Repscope.Runs;

namespace Repscope.Reproduce;

/// <summary>Settings shared by every run of a reproduction (data and the optimiser recipe).</summary>
/// <param name="Data">Data set name, e.g. "fashion-mnist".</param>
/// <param name="DataPath">Folder holding it (null: the copy shipped in the repository).</param>
/// <param name="TestExamples">Evaluate (and analyse) on this many test examples, the same for every run; null: all.</param>
/// <param name="EvaluateEveryEpoch">Evaluate on the test set after every epoch (false: only after the last).</param>
/// <param name="WarmupFraction">Learning-rate warm-up as a fraction of each run's epochs.</param>
/// <param name="Threads">Threads of each run's training and analyses. Fixed (not the machine's core count), because
/// libtorch's results depend on the thread count; <see cref="Reproducer"/> runs several runs at once instead.</param>
public sealed record TrainingSettings(string Data, string? DataPath, int BatchSize = TrainingDefaults.BatchSize, double LearningRate = TrainingDefaults.Lr,
                                      double WeightDecay = TrainingDefaults.WeightDecay, double Momentum = TrainingDefaults.Momentum, bool Augment = true, int? TestExamples = null,
                                      bool EvaluateEveryEpoch = false, double WarmupFraction = 0.1, int Threads = TrainingSettings.DefaultThreads)
{
    /// <summary>One thread per run: the numbers are then the same on every machine size.</summary>
    public const int DefaultThreads = 1;

    /// <summary>The plan's recipe (batch size, augmentation, warm-up, test examples, evaluation schedule) on this data; <paramref name="everyEpoch"/> overrides the plan's evaluation schedule.</summary>
    public static TrainingSettings For(ExperimentPlan plan, string data, string? dataPath, bool? everyEpoch = null) =>
        new(data, dataPath, BatchSize: plan.BatchSize, Augment: plan.Augment, TestExamples: plan.TestExamples,
            EvaluateEveryEpoch: everyEpoch ?? plan.EvaluateEveryEpoch, WarmupFraction: plan.WarmupFraction);
}

/// <summary>One epoch of a run's learning curve (test accuracy only where the run evaluated after that epoch).</summary>
public sealed record EpochPoint(int Epoch, double TrainLoss, double TrainAccuracy, double? TestAccuracy);

/// <summary>How a run trained: final train and test accuracy and the learning curve (from run.json).</summary>
/// <param name="TrainAccuracy">Training accuracy of the last epoch (measured while training, as the epochs ran).</param>
public sealed record RunOutcome(double TrainAccuracy, double TestAccuracy, IReadOnlyList<EpochPoint> Curve);

/// <summary>
/// Within-model results of one run (what <c>repscope pc</c> computes): CKA between every pair of taps (the stem,
/// every residual branch and every residual block's output), the same after removing each tap's first principal
/// component, and the variance the first component explains.
/// </summary>
/// <param name="Cka">Pairwise CKA of <paramref name="Layers"/>, row-major.</param>
/// <param name="CkaWithoutPc1">Pairwise CKA after projecting out each layer's first principal component.</param>
/// <param name="Pc1Fraction">Fraction of variance explained by each layer's first principal component.</param>
/// <param name="TestAccuracy">The run's final test accuracy.</param>
public sealed record LayersResult(IReadOnlyList<string> Layers, double[][] Cka, double[][] CkaWithoutPc1, double[] Pc1Fraction, double TestAccuracy);

/// <summary>Cross-model CKA of two runs (rows: layers of A, columns: layers of B).</summary>
/// <param name="Bootstrap">Interval of a statistic of the map by a bootstrap over test examples (null when the analysis keeps no per-example parts).</param>
public sealed record CompareResult(IReadOnlyList<string> Rows, IReadOnlyList<string> Columns, double[][] Cka, [property: JsonIgnore] byte[] HeatmapPng,
                                   [property: JsonIgnore] Func<Func<double[][], double>, Interval>? Bootstrap = null);

/// <summary>Linear probe accuracy after every layer, fitted on training images and measured on held-out ones.</summary>
/// <param name="TestExamples">Held-out examples the accuracies are measured on.</param>
/// <param name="Correct">Per layer (as <paramref name="Layers"/>), whether each held-out example was classified correctly; null when not kept.</param>
public sealed record ProbeCurve(IReadOnlyList<string> Layers, double[] Accuracy, long TestExamples, [property: JsonIgnore] byte[] Png,
                                [property: JsonIgnore] bool[][]? Correct = null);

/// <summary>One point of a pruning curve: the last <paramref name="Deleted"/> blocks of stage <paramref name="Stage"/> deleted.</summary>
/// <param name="NewlyDeleted">The block this step deletes on top of the previous one (the earliest of the deleted blocks).</param>
public sealed record PruneStep(int Stage, int Deleted, string NewlyDeleted, double Accuracy);

/// <summary>Test accuracy as residual blocks are deleted from the end of each stage (no retraining).</summary>
/// <param name="Correct">Per step, whether each test example was classified correctly; null when not kept.</param>
/// <param name="BaselineCorrect">The same for the whole model.</param>
public sealed record PruneCurve(double BaselineAccuracy, IReadOnlyList<PruneStep> Steps, [property: JsonIgnore] byte[] Png,
                                [property: JsonIgnore] bool[][]? Correct = null, [property: JsonIgnore] bool[]? BaselineCorrect = null);

/// <summary>
/// Errors of two groups of runs (seeds of a deep and of a wide architecture) on the same test examples.
/// </summary>
/// <param name="AccuraciesA">Test accuracy of each run of group A (deep).</param>
/// <param name="AccuraciesB">Test accuracy of each run of group B (wide).</param>
/// <param name="Effect">The errors effect with its interval (<see cref="ReproduceFindings.ErrorsEffect"/>).</param>
/// <param name="Method">How the interval was made.</param>
/// <param name="Measured">What was measured, in words.</param>
public sealed record ErrorsResult(IReadOnlyList<double> AccuraciesA, IReadOnlyList<double> AccuraciesB, Interval Effect, string Method,
                                  string Measured, [property: JsonIgnore] byte[] ScatterPng);

/// <summary>
/// What <see cref="Reproducer"/> drives: training and the analyses. The real implementation calls the
/// library (Training, Analysis); tests use a fast fake. Every method writes into run or output
/// directories and reports progress; failures are <see cref="RepscopeException"/>.
/// </summary>
public interface IReproduceBackend
{
    /// <summary>Sets the threads every later training and analysis of this process uses (results depend on it).</summary>
    void UseThreads(int threads) { }

    /// <summary>Trains <paramref name="spec"/> into <paramref name="runDir"/>; with <paramref name="resume"/>, continues from its checkpoint.</summary>
    void Train(RunSpec spec, TrainingSettings settings, string runDir, bool resume, IProgressReporter progress, CancellationToken cancel = default);

    /// <summary>How a finished run trained (accuracies and learning curve).</summary>
    RunOutcome Outcome(string runDir);

    LayersResult Layers(string runDir, IProgressReporter progress);

    CompareResult Compare(string runA, string runB, string outDir, IProgressReporter progress);

    ProbeCurve Probe(string runDir, IProgressReporter progress);

    PruneCurve Prune(string runDir, IProgressReporter progress);

    ErrorsResult Errors(IReadOnlyList<string> groupA, IReadOnlyList<string> groupB, string outDir, IProgressReporter progress);
}
