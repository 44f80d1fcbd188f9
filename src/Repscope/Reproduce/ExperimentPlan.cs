using System.Globalization;

namespace Repscope.Reproduce;

/// <summary>Which grid <c>repscope reproduce</c> runs.</summary>
public enum GridScale
{
    /// <summary>Minutes on two CPU cores, on the data shipped in the repository.</summary>
    Quick,
    /// <summary>Closer to the paper: hours on a CPU.</summary>
    Full,
}

/// <summary>
/// One model to train: architecture, data size, schedule and seed. <paramref name="TrainExamples"/>
/// is the number of training images (0 = the whole training set). Its <see cref="Name"/> is the
/// run directory's name, so a spec always maps to the same folder and a second call finds it.
/// </summary>
public sealed record RunSpec(int Depth, double Width, bool Residual, int TrainExamples, int Epochs, int Seed)
{
    public string Name => string.Create(CultureInfo.InvariantCulture,
        $"r{Depth}w{Width:0.##}{(Residual ? "" : "-plain")}-n{(TrainExamples == 0 ? "all" : TrainExamples.ToString(CultureInfo.InvariantCulture))}-e{Epochs}-s{Seed}");

    /// <summary>"ResNet-56 (width 1)" or "plain 20-layer net (width 1, no residual connections)".</summary>
    public string Architecture => Residual
        ? string.Create(CultureInfo.InvariantCulture, $"ResNet-{Depth} (width {Width:0.##})")
        : string.Create(CultureInfo.InvariantCulture, $"{Depth}-layer net without residual connections (width {Width:0.##})");

    public string DataLabel => TrainExamples == 0 ? "all training images" : $"{TrainExamples} training images";

    /// <summary>Relative training cost: images seen x depth x width^2 (the convolutions' multiply-adds grow so).</summary>
    public double Cost => Epochs * (double)(TrainExamples == 0 ? 50_000 : TrainExamples) * Depth * Width * Width;

    /// <summary>The same spec with another seed.</summary>
    public RunSpec WithSeed(int seed) => this with { Seed = seed };
}

/// <summary>
/// The grid of models and which experiment uses which, as data. Every run in the experiments is in
/// <see cref="Runs"/> (deduplicated, cheapest first); the experiments name runs by spec.
/// </summary>
/// <param name="DepthRow">Experiment 1: increasing depth at width 1 (all data, seed 1).</param>
/// <param name="WidthRow">Experiment 1: increasing width at one depth.</param>
/// <param name="LessDataRow">Experiment 2: the width row (or a part of it) trained on less data.</param>
/// <param name="NoResidual">Experiment 3: (with, without) residual connections at the same depth and width.</param>
/// <param name="SeedPair">Experiment 4: one architecture with a block structure, two seeds.</param>
/// <param name="ProbeAndPrune">Experiments 6-7: models probed and pruned (one with, one without a block structure expected).</param>
/// <param name="ErrorsDeep">Experiment 8: narrow and deep, at least 4 seeds (also the seed control, split in halves).</param>
/// <param name="ErrorsWide">Experiment 8: wide and shallow, the same number of seeds.</param>
public sealed record ExperimentPlan(
    GridScale Scale,
    IReadOnlyList<RunSpec> DepthRow,
    IReadOnlyList<RunSpec> WidthRow,
    IReadOnlyList<RunSpec> LessDataRow,
    (RunSpec With, RunSpec Without) NoResidual,
    (RunSpec A, RunSpec B) SeedPair,
    IReadOnlyList<RunSpec> ProbeAndPrune,
    IReadOnlyList<RunSpec> ErrorsDeep,
    IReadOnlyList<RunSpec> ErrorsWide)
{
    /// <summary>Test examples every run is evaluated and analysed on (null: the whole test split). Evaluation runs every epoch, so it is part of the cost.</summary>
    public int? TestExamples { get; init; }

    /// <summary>Training seconds per epoch of 1,000 images x depth x width^2 on two CPU cores (bench/reproduce_grid_timing.txt: 0.07-0.13).</summary>
    public const double TrainSecondsPerUnit = 0.10;

    /// <summary>Evaluation seconds per 1,000 test images x depth x width^2 on two CPU cores (measured 0.02-0.04); the trainer evaluates after every epoch.</summary>
    public const double EvalSecondsPerUnit = 0.03;

    /// <summary>Estimated training time of one run on two CPU cores, evaluation after every epoch included.</summary>
    public double EstimatedSeconds(RunSpec r)
    {
        double unit = r.Depth * r.Width * r.Width / 1000.0;
        double train = r.TrainExamples == 0 ? 50_000 : r.TrainExamples;
        double test = TestExamples ?? 10_000;
        return r.Epochs * unit * (train * TrainSecondsPerUnit + test * EvalSecondsPerUnit);
    }

    /// <summary>Every run the experiments need, once each, cheapest first (so early results come early).</summary>
    public IReadOnlyList<RunSpec> Runs =>
        DepthRow.Concat(WidthRow).Concat(LessDataRow).Append(NoResidual.With).Append(NoResidual.Without)
            .Append(SeedPair.A).Append(SeedPair.B).Concat(ProbeAndPrune).Concat(ErrorsDeep).Concat(ErrorsWide)
            .Distinct().OrderBy(r => r.Cost).ThenBy(r => r.Name, StringComparer.Ordinal).ToList();

    /// <summary>Runs whose within-model CKA (heatmap, block structure, first components) is computed.</summary>
    public IReadOnlyList<RunSpec> LayerRuns =>
        DepthRow.Concat(WidthRow).Concat(LessDataRow).Append(NoResidual.With).Append(NoResidual.Without)
            .Append(SeedPair.A).Append(SeedPair.B).Concat(ProbeAndPrune).Distinct().ToList();

    /// <summary>
    /// The quick grid: 1,000 training images, 10 epochs (250 images for 40 epochs in the less-data
    /// row), 1,000 test images, 16 runs: ~8.7 minutes of training measured on two cores
    /// (bench/reproduce_grid_timing.txt). The errors groups have 4 seeds each so that the seed control (group A
    /// split in two halves) has 2 runs per half for its own per-class tests. Depth grows capacity cheaply on a CPU; the width row stays at depth 14 and width
    /// 2. See docs/reproduce.md for the measurements behind the choice.
    /// </summary>
    public static ExperimentPlan Quick()
    {
        const int n = 1000, epochs = 10;
        RunSpec R(int depth, double width, int examples = n, bool residual = true, int seed = 1) =>
            new(depth, width, residual, examples, epochs, seed);
        var deep = R(56, 1);
        var middle = R(20, 1);
        return new ExperimentPlan(
            GridScale.Quick,
            DepthRow: [R(14, 1), middle, deep],
            WidthRow: [R(14, 1), R(14, 2)],
            // A quarter of the data for four times the epochs: the same number of SGD steps, so that
            // "less data" does not also mean "less training" (10 epochs of 250 images are 20 steps).
            LessDataRow: [R(14, 1, n / 4) with { Epochs = 4 * epochs }, R(14, 2, n / 4) with { Epochs = 4 * epochs }],
            NoResidual: (middle, R(20, 1, residual: false)),
            SeedPair: (deep, deep.WithSeed(2)),
            ProbeAndPrune: [deep, middle],
            ErrorsDeep: [.. Enumerable.Range(1, 4).Select(s => R(14, 1, seed: s))],
            ErrorsWide: [.. Enumerable.Range(1, 4).Select(s => R(8, 1.5, seed: s))])
        {
            TestExamples = 1000,
        };
    }

    /// <summary>The full grid: closer to the paper (all training data, more depths and widths, hours on a CPU).</summary>
    public static ExperimentPlan Full()
    {
        const int epochs = 30;
        RunSpec R(int depth, double width, int examples = 0, bool residual = true, int seed = 1) =>
            new(depth, width, residual, examples, epochs, seed);
        var deep = R(110, 1);
        return new ExperimentPlan(
            GridScale.Full,
            DepthRow: [R(8, 1), R(20, 1), R(38, 1), R(56, 1), R(110, 1)],
            WidthRow: [R(26, 1), R(26, 2), R(26, 4), R(26, 8)],
            LessDataRow: [R(26, 1, 6000), R(26, 2, 6000), R(26, 4, 6000), R(26, 8, 6000)],
            NoResidual: (R(38, 1), R(38, 1, residual: false)),
            SeedPair: (deep, deep.WithSeed(2)),
            ProbeAndPrune: [deep, R(20, 1), R(26, 8)],
            ErrorsDeep: [.. Enumerable.Range(1, 5).Select(s => R(62, 1, seed: s))],
            ErrorsWide: [.. Enumerable.Range(1, 5).Select(s => R(14, 4, seed: s))]);
    }

    public static ExperimentPlan For(GridScale scale) => scale == GridScale.Quick ? Quick() : Full();

    /// <summary>Checks the plan's own consistency (used for hand-made plans, e.g. in tests).</summary>
    public void Validate()
    {
        if (ErrorsDeep.Count < 4 || ErrorsWide.Count < 2)
        {
            throw new RepscopeException("reproduce plan: the errors experiment needs at least 4 seeds of the deep model (2 per control half) and 2 of the wide one");
        }
        if (SeedPair.A with { Seed = 0 } != SeedPair.B with { Seed = 0 } || SeedPair.A.Seed == SeedPair.B.Seed)
        {
            throw new RepscopeException("reproduce plan: the seed pair must be one architecture with two different seeds");
        }
        foreach (var r in Runs)
        {
            if (r.Depth < 8 || (r.Depth - 2) % 6 != 0) { throw new RepscopeException($"reproduce plan: {r.Name}: depth must be 6n+2 with n >= 1"); }
            if (r.Width <= 0 || r.Epochs <= 0 || r.TrainExamples < 0) { throw new RepscopeException($"reproduce plan: {r.Name}: width and epochs must be positive"); }
        }
    }
}
