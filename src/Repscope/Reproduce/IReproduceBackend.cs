using System.Text.Json.Serialization;
using Repscope.Analysis.Statistics;
using Repscope.Runs;
using Repscope.Workflows;

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
/// Within-model results of one run: what <c>repscope pc</c> writes (<see cref="PcResult"/>: CKA between every pair of taps,
/// the stem, every residual branch and every residual block's output, the same after removing each tap's first principal
/// component, and the variance the first component explains), with the run's final test accuracy (run.json).
/// </summary>
public sealed record WithinModelMaps(PcResult Pc, double TestAccuracy);

/// <summary>
/// A workflow's result (<see cref="CompareResult"/>, <see cref="ProbeResult"/>, <see cref="PruneResult"/>) with the figure the
/// workflow drew, for the report. Per-example correctness rides on the result itself (<see cref="Analysis.ProbeFit.TestCorrect"/>,
/// <see cref="Analysis.PruneStep.Correct"/>), restored from the files <see cref="LibraryBackend"/> keeps beside a cached result.
/// </summary>
public sealed record WithFigure<T>(T Result, [property: JsonIgnore] byte[] Png);

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

    /// <summary>The within-model maps of the taps of <see cref="LibraryBackend.LayerTaps"/> (pc.json).</summary>
    WithinModelMaps Layers(string runDir, IProgressReporter progress);

    /// <summary>The cross-model map of two runs and its heatmap (compare_A_vs_B.json and .png in <paramref name="outDir"/>).</summary>
    WithFigure<CompareResult> Compare(string runA, string runB, string outDir, IProgressReporter progress);

    /// <summary>Linear probes of every tap (probe.json, probe.png), the held-out correctness of the block outputs' probes kept.</summary>
    WithFigure<ProbeResult> Probe(string runDir, IProgressReporter progress);

    /// <summary>Residual-block deletion without retraining (prune.json, prune.png), the per-example correctness kept.</summary>
    WithFigure<PruneResult> Prune(string runDir, IProgressReporter progress);

    ErrorsResult Errors(IReadOnlyList<string> groupA, IReadOnlyList<string> groupB, string outDir, IProgressReporter progress);

    /// <summary>
    /// The run's within-model map under each measure of <see cref="Analysis.MeasureRobustness"/> (linear and RBF CKA, SVCCA,
    /// Procrustes) with their block-structure scores; null where the backend does not compute it (the report then has no such figures).
    /// </summary>
    Analysis.MeasureRobustnessResult? Measures(string runDir, IProgressReporter progress) => null;
}
