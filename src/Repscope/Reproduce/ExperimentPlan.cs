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
/// <see cref="Runs"/> (deduplicated, cheapest first); the experiments name runs by spec. The rows list
/// their models with seed 1; every row model is trained with seeds 1..<see cref="Seeds"/>
/// (<see cref="Replicates"/>), because the row claims are about models and their intervals are over seeds.
/// </summary>
/// <param name="DepthRow">Increasing depth at one width.</param>
/// <param name="WidthRow">Increasing width at one depth, from block-free to blocky; the first is the block-free reference, the last the block model.</param>
/// <param name="LessDataRow">Models of the width row trained on fewer images for as many SGD steps.</param>
/// <param name="NoResidual">(with, without) residual connections at the same depth and width.</param>
/// <param name="SeedPair">One architecture expected to have a block structure, two seeds (cross-seed CKA).</param>
/// <param name="ProbeAndPrune">Models probed and pruned: the block model and the block-free reference.</param>
/// <param name="ErrorsDeep">Errors: narrow and deep, at least 2 seeds (the quick grid has 4: as many as the wide group).</param>
/// <param name="ErrorsWide">Errors: wide and shallow, the same number of seeds.</param>
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
    /// <summary>Test examples every run is evaluated and analysed on (null: the whole test split).</summary>
    public int? TestExamples { get; init; }

    /// <summary>Seeds of every row model (depth, width, less data, no residual): the row findings' intervals are over them.</summary>
    public int Seeds { get; init; } = 2;

    /// <summary>SGD batch size of every run.</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Random crops and flips while training.</summary>
    public bool Augment { get; init; } = true;

    /// <summary>Linear learning-rate warm-up as a fraction of each run's epochs (the same number of steps for runs with equal steps).</summary>
    public double WarmupFraction { get; init; } = 0.1;

    /// <summary>Evaluate on the test set after every epoch (false: only after the last, the reproduction's default).</summary>
    public bool EvaluateEveryEpoch { get; init; }

    /// <summary>
    /// Training seconds per epoch of 1,000 images, per layer of depth, as a + b x width^2 on two idle CPU cores: measured
    /// with Repscope's trainer (2.15 s for ResNet-14 width 1, 4.0 s for width 2 per 1,000 images; docs/reproduce.md).
    /// Narrow models do not get cheaper with the square of the width: batch norm, ReLU and memory traffic stay.
    /// </summary>
    public const double TrainSecondsPerLayer = 0.110, TrainSecondsPerLayerWidth2 = 0.045;

    /// <summary>Evaluation costs about this fraction of training per image (forward pass only, no augmentation).</summary>
    public const double EvalFraction = 0.35;

    /// <summary>Seconds of one epoch on 1,000 images for this architecture (training only).</summary>
    public static double EpochSecondsPer1000(RunSpec r) =>
        r.Depth * (TrainSecondsPerLayer + TrainSecondsPerLayerWidth2 * r.Width * r.Width) * (r.Residual ? 1 : 0.9);

    /// <summary>Estimated training time of one run on two idle CPU cores, its evaluations included.</summary>
    public double EstimatedSeconds(RunSpec r)
    {
        double perImage = EpochSecondsPer1000(r) / 1000;
        double train = r.TrainExamples == 0 ? 50_000 : r.TrainExamples;
        double test = TestExamples ?? 2_000;
        int evaluations = EvaluateEveryEpoch ? r.Epochs : 1;
        return perImage * (r.Epochs * train + evaluations * test * EvalFraction);
    }

    /// <summary>The seeds of one row model: <paramref name="r"/> with seeds 1..<see cref="Seeds"/>.</summary>
    public IReadOnlyList<RunSpec> Replicates(RunSpec r) => [.. Enumerable.Range(1, Seeds).Select(r.WithSeed)];

    /// <summary>The row models, seed 1 (each trained with <see cref="Seeds"/> seeds).</summary>
    public IEnumerable<RunSpec> RowModels =>
        DepthRow.Concat(WidthRow).Concat(LessDataRow).Append(NoResidual.With).Append(NoResidual.Without).Distinct();

    /// <summary>Every run the experiments need, once each, cheapest first (so early results come early).</summary>
    public IReadOnlyList<RunSpec> Runs =>
        RowModels.SelectMany(Replicates).Append(SeedPair.A).Append(SeedPair.B).Concat(ProbeAndPrune).Concat(ErrorsDeep).Concat(ErrorsWide)
            .Distinct().OrderBy(r => r.Cost).ThenBy(r => r.Name, StringComparer.Ordinal).ToList();

    /// <summary>Runs whose within-model CKA (with and without each layer's first component) is computed.</summary>
    public IReadOnlyList<RunSpec> LayerRuns =>
        RowModels.SelectMany(Replicates).Append(SeedPair.A).Append(SeedPair.B).Concat(ProbeAndPrune).Distinct().ToList();

    /// <summary>
    /// The quick grid (docs/reproduce.md): 256 training images of the shipped Fashion-MNIST data, 24 epochs of
    /// batch 64 (96 SGD steps, no augmentation, so that the models get close to interpolating their training
    /// set), evaluation only at the end on all 2,000 held-out images. Width row ResNet-14 at width 0.5, 1, 2
    /// (meant to span block-free to blocky; on this budget all measured block-free, docs/reproduce.md), depth row 8, 14, 26 at width 1, less data (64 images, 96 epochs: the same 96 steps)
    /// at width 0.5 and 1, a 14-layer net without residual connections; two seeds of each. Errors: ResNet-14
    /// width 1 against ResNet-8 width 1.5, four seeds each.
    /// </summary>
    public static ExperimentPlan Quick()
    {
        const int n = 256, epochs = 24, less = 64;
        RunSpec R(int depth, double width, int examples = n, bool residual = true, int seed = 1) =>
            new(depth, width, residual, examples, examples == less ? epochs * n / less : epochs, seed);
        var block = R(14, 2);
        return new ExperimentPlan(
            GridScale.Quick,
            DepthRow: [R(8, 1), R(14, 1), R(26, 1)],
            WidthRow: [R(14, 0.5), R(14, 1), block],
            LessDataRow: [R(14, 0.5, less), R(14, 1, less)],
            NoResidual: (R(14, 1), R(14, 1, residual: false)),
            SeedPair: (block, block.WithSeed(2)),
            ProbeAndPrune: [block, R(14, 0.5)],
            ErrorsDeep: [.. Enumerable.Range(1, 4).Select(s => R(14, 1, seed: s))],
            ErrorsWide: [.. Enumerable.Range(1, 4).Select(s => R(8, 1.5, seed: s))])
        {
            TestExamples = null,
            Seeds = 2,
            BatchSize = 64,
            Augment = false,
        };
    }

    /// <summary>The full grid: closer to the paper (all training data, more depths and widths, hours on a CPU).</summary>
    public static ExperimentPlan Full()
    {
        const int epochs = 30;
        RunSpec R(int depth, double width, int examples = 0, bool residual = true, int seed = 1) =>
            new(depth, width, residual, examples, epochs, seed);
        var block = R(26, 8);
        return new ExperimentPlan(
            GridScale.Full,
            DepthRow: [R(8, 1), R(20, 1), R(38, 1), R(56, 1), R(110, 1)],
            WidthRow: [R(26, 1), R(26, 2), R(26, 4), block],
            LessDataRow: [R(26, 1, 6000), R(26, 2, 6000), R(26, 4, 6000)],
            NoResidual: (R(38, 1), R(38, 1, residual: false)),
            SeedPair: (block, block.WithSeed(2)),
            ProbeAndPrune: [block, R(26, 1)],
            ErrorsDeep: [.. Enumerable.Range(1, 5).Select(s => R(62, 1, seed: s))],
            ErrorsWide: [.. Enumerable.Range(1, 5).Select(s => R(14, 4, seed: s))])
        {
            Seeds = 3,
        };
    }

    public static ExperimentPlan For(GridScale scale) => scale == GridScale.Quick ? Quick() : Full();

    /// <summary>Checks the plan's own consistency (used for hand-made plans, e.g. in tests).</summary>
    public void Validate()
    {
        if (ErrorsDeep.Count < 2 || ErrorsWide.Count < 2)
        {
            throw new RepscopeException("reproduce plan: the errors experiment needs at least 2 seeds of each model (the seed-to-seed disagreement is its control)");
        }
        if (Seeds < 2) { throw new RepscopeException("reproduce plan: the row findings need at least 2 seeds of each model"); }
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
