using Repscope.Analysis.Statistics;
using Repscope.Models;
using Repscope.Similarity;
using Repscope.Spectral;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Analysis;

/// <summary>Within-model CKA of every pair of layers, each layer's first principal component, and the block structure.</summary>
/// <param name="Warnings">What the user should know (batches left out, undefined layers).</param>
public sealed record WithinModelResult(CkaMatrix Cka, IReadOnlyList<FirstComponent> Components, BlockStructureResult BlockStructure,
                                       int Batches, long Examples, IReadOnlyList<string> Warnings)
{
    public IReadOnlyList<double> Pc1Fractions => Components.Select(c => c.Fraction).ToList();

    /// <summary>The per-batch HSIC state behind <see cref="Cka"/> (for the cache: <see cref="CkaBatchState.Save"/>).</summary>
    public CkaBatchState? BatchState { get; init; }

    /// <summary>The relative block-structure score with its bootstrap interval over batches (docs/block-structure.md);
    /// the interval is undefined with fewer than 2 batches.</summary>
    public BlockStructureScoreBootstrap? Score { get; init; }
}

/// <summary>The paper's principal-component evidence for block structure.</summary>
/// <param name="Cka">Within-model CKA of the layers as they are.</param>
/// <param name="Pc1Cosines">Squared cosine similarity of the layers' first principal components in example space.</param>
/// <param name="CkaWithoutPc1">Within-model CKA after removing every layer's first principal component.</param>
public sealed record PrincipalComponentsResult(CkaMatrix Cka, IReadOnlyList<FirstComponent> Components, CkaMatrix Pc1Cosines, CkaMatrix CkaWithoutPc1,
                                               BlockStructureResult BlockStructure, BlockStructureResult BlockStructureWithoutPc1, IReadOnlyList<string> Warnings)
{
    /// <summary>The block-structure score of <see cref="Cka"/> with its interval.</summary>
    public BlockStructureScoreBootstrap? Score { get; init; }

    /// <summary>The block-structure score of <see cref="CkaWithoutPc1"/> with its interval (the paper: block structure
    /// disappears when the first principal component is removed).</summary>
    public BlockStructureScoreBootstrap? ScoreWithoutPc1 { get; init; }
}

/// <summary>How the block-structure score's bootstrap over batches is run.</summary>
/// <param name="Replicates">Bootstrap replicates (0: the score without an interval).</param>
/// <param name="Seed">Bootstrap seed.</param>
public sealed record ScoreOptions(int Replicates = Intervals.DefaultReplicates, ulong Seed = Intervals.DefaultSeed)
{
    public static readonly ScoreOptions Default = new();
}

/// <summary>
/// Streaming layer-similarity analyses over <see cref="ActivationPass"/>es: nothing is stored per
/// example except one number per example per sketch column for the principal components.
/// </summary>
public static class LayerSimilarity
{
    /// <summary>
    /// Within-model minibatch CKA (paper Eq. 3) over every pass in <paramref name="ckaPasses"/> (e.g. one per epoch of
    /// shuffled data, all accumulated), the first principal component of every layer from the first pass's
    /// examples (it is run <see cref="FirstComponentOptions.Passes"/> times), and the block structure.
    /// </summary>
    /// <remarks>Also the relative block-structure score (<see cref="WithinModelResult.Score"/>) with its bootstrap over the
    /// batches (<paramref name="scoreOptions"/>); with more than one pass the batches share examples and the interval is
    /// too narrow (a warning says so).</remarks>
    public static WithinModelResult WithinModel(IReadOnlyList<string> layers, IReadOnlyList<ActivationPass> ckaPasses,
        FirstComponentOptions? pcOptions = null, BlockStructureOptions? blockOptions = null, ScoreOptions? scoreOptions = null)
    {
        if (ckaPasses.Count == 0) { throw new ArgumentException("at least one pass is needed", nameof(ckaPasses)); }
        pcOptions ??= FirstComponentOptions.Default;
        var cka = new MinibatchCkaAccumulator(layers) { KeepBatches = true };
        var pcs = layers.Select(l => new FirstComponentAccumulator(l, pcOptions)).ToList();
        try
        {
            // One set of CKA worker threads, with their buffers, for every batch of the CKA passes, disposed before the
            // passes that only feed the first components. Made per batch (the accumulator's default), each batch started two
            // threads and allocated and freed the workers' buffers (a centred copy of the widest tap on each: 16 MiB for a
            // ResNet-26 at batch 256) among the batch's other temporaries, in the C heap.
            using (var workers = GramWorkers.ForCallingThread())
            {
                for (int e = 0; e < ckaPasses.Count; e++)
                {
                    bool withPc = e == 0;
                    ckaPasses[e]((_, taps) =>
                    {
                        cka.Add(taps, overwrite: false, workers);
                        if (withPc) { FirstComponents.AddBatch(pcs, taps); }
                    });
                    if (withPc) { FirstComponents.EndPass(pcs); }
                }
            }
            RunRemainingPasses(pcs, ckaPasses[0]);
            var matrix = cka.Result();
            var components = pcs.Select(a => a.Result()).ToList();
            var blocks = BlockStructure.Detect(matrix.Values, layers, components.Select(c => c.Fraction).ToList(), blockOptions);
            var warnings = Warnings(cka, components);
            if (ckaPasses.Count > 1)
            {
                warnings.Add($"the block-structure score's interval resamples batches of {ckaPasses.Count} passes over the same examples: it is too narrow");
            }
            var state = cka.BatchState();
            return new WithinModelResult(matrix, components, blocks, cka.Batches, cka.Examples, warnings)
            {
                BatchState = state,
                Score = ScoreOf(state, layers, scoreOptions),
            };
        }
        finally
        {
            foreach (var a in pcs) { a.Dispose(); }
        }
    }

    /// <summary>
    /// Cross-model minibatch CKA: <paramref name="pass"/> delivers, per batch, model A's taps and model B's taps for
    /// the same examples.
    /// </summary>
    public static CkaMatrix CrossModel(IReadOnlyList<string> rows, IReadOnlyList<string> columns,
        Action<Action<IReadOnlyList<Tensor>, IReadOnlyList<Tensor>>> pass, out IReadOnlyList<string> warnings)
        => CrossModel(rows, columns, pass, out warnings, out _);

    /// <summary>The same, also keeping each batch's HSIC values (<paramref name="batches"/>) for a bootstrap over test examples.</summary>
    public static CkaMatrix CrossModel(IReadOnlyList<string> rows, IReadOnlyList<string> columns,
        Action<Action<IReadOnlyList<Tensor>, IReadOnlyList<Tensor>>> pass, out IReadOnlyList<string> warnings, out CkaBatchState batches)
    {
        var cka = new MinibatchCkaAccumulator(rows, columns) { KeepBatches = true };
        using (var workers = GramWorkers.ForCallingThread()) { pass((a, b) => cka.Add(a, b, overwrite: false, workers)); }
        warnings = cka.Warnings.Distinct().ToList();
        batches = cka.BatchState();
        return cka.Result();
    }

    /// <summary>
    /// First principal components, their squared cosines in example space, and the within-model CKA with and without
    /// every layer's first component. Runs <paramref name="pass"/> <see cref="FirstComponentOptions.Passes"/> + 1 times.
    /// </summary>
    public static PrincipalComponentsResult PrincipalComponents(IReadOnlyList<string> layers, ActivationPass pass,
        FirstComponentOptions? pcOptions = null, BlockStructureOptions? blockOptions = null, ScoreOptions? scoreOptions = null)
    {
        var within = WithinModel(layers, [pass], pcOptions, blockOptions, scoreOptions);
        var components = within.Components;
        var removed = new MinibatchCkaAccumulator(layers) { KeepBatches = true };
        var means = components.Select(c => torch.tensor(c.Mean)).ToList();
        var directions = components.Select(c => torch.tensor(c.Direction)).ToList();
        try
        {
            using var workers = GramWorkers.ForCallingThread();
            pass((_, taps) =>
            {
                using var scope = torch.NewDisposeScope();
                var stripped = new Tensor[taps.Count];
                for (int i = 0; i < taps.Count; i++)
                {
                    // A layer without a defined component (constant) stays as it is: CKA is undefined for it either way.
                    stripped[i] = double.IsNaN(components[i].Fraction) ? taps[i] : FirstComponents.RemoveFirstComponent(taps[i], means[i], directions[i]);
                }
                removed.Add(stripped, overwrite: false, workers);
            });
        }
        finally
        {
            foreach (var t in means.Concat(directions)) { t.Dispose(); }
        }
        var without = removed.Result();
        var cosines = new CkaMatrix(layers, layers, FirstComponents.SquaredCosines(components));
        var blocksWithout = BlockStructure.Detect(without.Values, layers, null, blockOptions);
        var warnings = within.Warnings.Concat(removed.Warnings).Distinct().ToList();
        return new PrincipalComponentsResult(within.Cka, components, cosines, without, within.BlockStructure, blocksWithout, warnings)
        {
            Score = within.Score,
            ScoreWithoutPc1 = ScoreOf(removed.BatchState(), layers, scoreOptions),
        };
    }

    /// <summary>
    /// The block-structure score of a within-model state, counted in residual blocks where the layer names say so, with
    /// its bootstrap interval over batches (undefined with fewer than 2 batches or 0 replicates). Null with fewer than 3 layers (a square needs an outside).
    /// </summary>
    public static BlockStructureScoreBootstrap? ScoreOf(CkaBatchState state, IReadOnlyList<string> layers, ScoreOptions? options = null)
    {
        options ??= ScoreOptions.Default;
        if (layers.Count < 3) { return null; }
        var units = BlockStructureScore.ResidualBlockUnits(layers);
        IReadOnlyList<int>? unitMap = units.Any(u => u >= 0) ? units : null;
        if (state.Batches >= 2 && options.Replicates >= 2)
        {
            return BlockStructureScore.Bootstrap(state, unitMap, options.Replicates, options.Seed);
        }
        var point = BlockStructureScore.Score(state.Result().Values, layers, unitMap);
        string why = $"{state.Batches} batch(es) and {options.Replicates} replicate(s): a bootstrap interval needs at least 2 of each";
        return new BlockStructureScoreBootstrap(point,
            new Interval(point.Strength, double.NaN, double.NaN, Intervals.DefaultLevel, IntervalMethod.PercentileBootstrap, state.Batches, Undefined: why),
            new Interval(point.Coverage, double.NaN, double.NaN, Intervals.DefaultLevel, IntervalMethod.PercentileBootstrap, state.Batches, Undefined: why));
    }

    private static void RunRemainingPasses(List<FirstComponentAccumulator> pcs, ActivationPass pass)
    {
        while (pcs.Any(a => !a.Done))
        {
            pass((_, taps) => FirstComponents.AddBatch(pcs, taps));
            FirstComponents.EndPass(pcs);
        }
    }

    private static List<string> Warnings(MinibatchCkaAccumulator cka, IReadOnlyList<FirstComponent> components)
    {
        var w = cka.Warnings.Distinct().ToList();
        foreach (var c in components.Where(c => double.IsNaN(c.Fraction)))
        {
            w.Add($"layer '{c.Layer}' is constant over the examples: its CKA and first principal component are undefined");
        }
        return w;
    }
}
