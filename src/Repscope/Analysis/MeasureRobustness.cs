using Repscope.Similarity;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Analysis;

/// <summary>One within-model map under one measure, with its block-structure scores.</summary>
/// <param name="Name">Short label, e.g. "linear CKA".</param>
/// <param name="Map">L x L map (NaN where undefined).</param>
/// <param name="Score">Relative block-structure score of the map (<see cref="BlockStructureScore"/>).</param>
/// <param name="Level">Threshold-free level of <see cref="BlockStructure.Detect"/>: the largest threshold at which a run of
/// at least 4 layers is still coherent (NaN with fewer layers).</param>
/// <param name="OverlapWithLinearCka">Jaccard overlap of the layers in the best square with those of linear CKA's best square (1 for linear CKA itself).</param>
/// <param name="RankCorrelationWithLinearCka">Spearman correlation of the off-diagonal entries (i &lt; j, both defined) with linear CKA's (NaN when undefined).</param>
/// <param name="Undefined">Why entries are undefined, one line each (empty when the map is complete).</param>
public sealed record MeasureMap(string Name, SimilarityMeasure Measure, string Description, CkaMatrix Map, BlockStructureScoreResult Score,
                                double Level, double OverlapWithLinearCka, double RankCorrelationWithLinearCka, IReadOnlyList<string> Undefined);

/// <summary>The same within-model activations under several measures, and a sentence on whether the block structure survives the change of measure.</summary>
public sealed record MeasureRobustnessResult(IReadOnlyList<string> Layers, long Examples, IReadOnlyList<MeasureMap> Maps, string Sentence);

/// <summary>
/// Is the block structure a property of the network or of CKA? The within-model map of one run's
/// activations under linear CKA, RBF CKA (threshold 0.5), SVCCA (the CCA-family member that stays defined
/// when a layer has more features than examples, which convolutional taps usually do) and Procrustes,
/// all on the whole data of the same examples (biased HSIC for CKA), each scored with
/// <see cref="BlockStructureScore"/> and <see cref="BlockStructure.Level"/>.
/// </summary>
public static class MeasureRobustness
{
    /// <summary>The measures compared, in order; the first is the reference the others are compared with.</summary>
    public static IReadOnlyList<(string Name, SimilarityMeasure Measure, MeasureOptions Options)> Default { get; } =
    [
        ("linear CKA", SimilarityMeasure.Cka, new MeasureOptions(CkaOptions.Default)),
        ("RBF CKA", SimilarityMeasure.Cka, new MeasureOptions(new CkaOptions(KernelKind.Rbf, HsicEstimator.Biased, 0.5))),
        ("SVCCA", SimilarityMeasure.Svcca, MeasureOptions.Default),
        ("Procrustes", SimilarityMeasure.Procrustes, MeasureOptions.Default),
    ];

    /// <summary>
    /// Collects the first <paramref name="examples"/> examples of <paramref name="pass"/> (float32, whole data in
    /// memory: examples x the sum of the layers' features x 4 bytes) and compares the measures on them.
    /// </summary>
    public static MeasureRobustnessResult WithinModel(IReadOnlyList<string> layers, ActivationPass pass, int examples,
                                                      IProgressReporter? progress = null)
    {
        if (examples < 4) { throw new RepscopeException($"measure comparison: needs at least 4 examples, got {examples}"); }
        var parts = layers.Select(_ => new List<Tensor>()).ToList();
        long taken = 0;
        try
        {
            pass((_, taps) =>
            {
                if (taken >= examples) { return; }
                long take = Math.Min(taps[0].shape[0], examples - taken);
                for (int i = 0; i < taps.Count; i++) { parts[i].Add(taps[i].narrow(0, 0, take).reshape(take, -1).to_type(ScalarType.Float32).clone().DetachFromDisposeScope()); }
                taken += take;
            });
            var data = parts.Select(p => torch.cat(p, 0)).ToList();
            foreach (var p in parts.SelectMany(p => p)) { p.Dispose(); }
            parts.Clear();
            try { return WithinModel(layers, data, progress); }
            finally { foreach (var t in data) { t.Dispose(); } }
        }
        finally
        {
            foreach (var p in parts.SelectMany(p => p)) { p.Dispose(); }
        }
    }

    /// <summary>Compares the measures on activations held in memory (one [n, ...] tensor per layer, forward order).</summary>
    public static MeasureRobustnessResult WithinModel(IReadOnlyList<string> layers, IReadOnlyList<Tensor> activations,
                                                      IProgressReporter? progress = null)
    {
        if (layers.Count < 2) { throw new RepscopeException($"measure comparison: needs at least 2 layers, got {layers.Count}"); }
        var units = BlockStructureScore.ResidualBlockUnits(layers);
        var computed = Default.Select(m =>
        {
            var map = m.Options.Cka is { Kernel: KernelKind.Rbf } rbf
                ? RbfCkaMap(activations, layers, rbf, progress)
                : Measures.AllPairs(m.Measure, activations, layers, null, null, m.Options, progress);
            return (m.Name, m.Measure, map);
        }).ToList();
        var reference = computed[0].map.Matrix;
        var referenceScore = BlockStructureScore.Score(reference.Values, layers, units);
        var maps = computed.Select(c =>
        {
            var score = BlockStructureScore.Score(c.map.Matrix.Values, layers, units);
            double level = BlockStructure.Detect(c.map.Matrix.Values, layers).Level;
            return new MeasureMap(c.Name, c.Measure, c.map.Description, c.map.Matrix, score, level,
                                  Jaccard(score, referenceScore), OffDiagonalRankCorrelation(c.map.Matrix, reference), c.map.Undefined);
        }).ToList();
        long n = activations[0].shape[0];
        return new MeasureRobustnessResult(layers.ToArray(), n, maps, Sentence(maps, n, layers.Count));
    }

    /// <summary>
    /// Whole-data RBF CKA (biased HSIC) of every pair with each layer's Gram computed once:
    /// CKA = ⟨HKH, HLH⟩_F / (‖HKH‖_F ‖HLH‖_F). Keeps L centred n x n Grams (float64): memory L n² x 8 bytes,
    /// against one Gram per pair (L² Gram products) in <see cref="AllPairsCka.WholeData"/>.
    /// </summary>
    private static MeasureMatrix RbfCkaMap(IReadOnlyList<Tensor> layers, IReadOnlyList<string> names, CkaOptions options, IProgressReporter? progress)
    {
        progress ??= ProgressReporter.None;
        int l = layers.Count;
        var grams = new Tensor?[l];
        var reasons = new List<string>();
        var v = new double[l, l];
        try
        {
            using (var task = progress.Start("RBF CKA: Gram matrices", l))
            {
                for (int i = 0; i < l; i++)
                {
                    using var scope = torch.NewDisposeScope();
                    try
                    {
                        var c = Hsic.DoubleCentre(Gram.Rbf(layers[i], options.RbfThreshold, $"layer '{names[i]}'"));
                        grams[i] = c.div_(c.norm()).MoveToOuterDisposeScope();
                    }
                    catch (UndefinedResultException e) { reasons.Add(e.Message); }
                    task.Advance(1);
                }
                task.Complete();
            }
            for (int i = 0; i < l; i++)
            {
                for (int j = i; j < l; j++)
                {
                    using var scope = torch.NewDisposeScope();
                    double value = grams[i] is null || grams[j] is null ? double.NaN
                        : i == j ? 1.0 : grams[i]!.mul(grams[j]!).sum().item<double>();
                    v[i, j] = v[j, i] = value;
                }
            }
            long n = layers[0].shape[0];
            return new MeasureMatrix(SimilarityMeasure.Cka, new CkaMatrix(names.ToArray(), names.ToArray(), v), reasons,
                                     $"{Measures.Describe(SimilarityMeasure.Cka, new MeasureOptions(options))}, whole data (n = {n})");
        }
        finally
        {
            foreach (var g in grams) { g?.Dispose(); }
        }
    }

    /// <summary>Jaccard overlap of the layer ranges of two best squares.</summary>
    public static double Jaccard(BlockStructureScoreResult a, BlockStructureScoreResult b)
    {
        int intersection = Math.Max(0, Math.Min(a.Last, b.Last) - Math.Max(a.First, b.First) + 1);
        return (double)intersection / (a.Length + b.Length - intersection);
    }

    private static double OffDiagonalRankCorrelation(CkaMatrix a, CkaMatrix b)
    {
        var (x, y) = (new List<double>(), new List<double>());
        int l = a.Rows.Count;
        for (int i = 0; i < l; i++)
        {
            for (int j = i + 1; j < l; j++)
            {
                if (!double.IsNaN(a[i, j]) && !double.IsNaN(b[i, j])) { x.Add(a[i, j]); y.Add(b[i, j]); }
            }
        }
        try
        {
            using var tx = torch.tensor(x.ToArray(), dtype: ScalarType.Float64);
            using var ty = torch.tensor(y.ToArray(), dtype: ScalarType.Float64);
            return Rsa.RankCorrelation(tx, ty);
        }
        catch (UndefinedResultException) { return double.NaN; }
    }

    private static string Sentence(IReadOnlyList<MeasureMap> maps, long n, int layers)
    {
        string Square(MeasureMap m) => $"{m.Score.FirstLayer}..{m.Score.LastLayer} ({m.Score.Length} layers), strength {m.Score.Strength:F3}, level {m.Level:F2}";
        var first = maps[0];
        var others = maps.Skip(1).Select(m =>
            $"{m.Name}: {Square(m)}, overlap with linear CKA's square {m.OverlapWithLinearCka:F2} (Jaccard), " +
            $"off-diagonal rank correlation with linear CKA {m.RankCorrelationWithLinearCka:F2}");
        int found = maps.Count(m => m.Score.Found);
        return $"On the same {n} examples and {layers} layers, the best block-structure square is {Square(first)} under {first.Name}; " +
               string.Join("; ", others) + $". A square brighter than the block-free reference (strength > 0) is found under {found} of {maps.Count} measures. " +
               "One run and one set of examples: these numbers carry no uncertainty estimate.";
    }
}
