using Repscope.Analysis.Statistics;
using Repscope.Similarity;

namespace Repscope.Analysis;

/// <summary>
/// The relative block-structure score of one within-model CKA map (docs/block-structure.md).
/// The best diagonal square is layers <see cref="First"/>..<see cref="Last"/> (inclusive).
/// </summary>
/// <param name="Layers">Number of layers (taps) in the map.</param>
/// <param name="First">First layer of the best square (index into the layer list).</param>
/// <param name="Last">Last layer of the best square (inclusive).</param>
/// <param name="FirstLayer">Name of <paramref name="First"/>.</param>
/// <param name="LastLayer">Name of <paramref name="Last"/>.</param>
/// <param name="MeanExcess">Mean over the m x m cells of the square of CKA minus the reference at their layer distance
/// (the diagonal has excess 0: CKA 1 against reference 1).</param>
/// <param name="Coverage">Fraction of the layers inside the square: (Last - First + 1) / Layers.</param>
/// <param name="Strength">MeanExcess x Coverage, the quantity the square maximises. 0 for a map without block structure
/// (uniformly high, or CKA a function of layer distance only); positive values measure how much brighter than the
/// block-free reference a large square is.</param>
/// <param name="ReferenceQuantile">The quantile q of CKA at each distance that makes the reference profile.</param>
/// <param name="ReferenceProfile">Index d = 0..Layers-1: the block-free reference CKA at layer distance d
/// (entry 0 is 1 by definition; NaN where no pair at that distance is defined).</param>
/// <param name="ResidualBlocks">Residual blocks with at least one tap inside the square (null without a unit map).</param>
/// <param name="ResidualBlockCoverage">ResidualBlocks over the residual blocks with a tap in the map (null without a unit map).</param>
public sealed record BlockStructureScoreResult(
    int Layers, int First, int Last, string FirstLayer, string LastLayer,
    double MeanExcess, double Coverage, double Strength,
    double ReferenceQuantile, IReadOnlyList<double> ReferenceProfile,
    int? ResidualBlocks = null, double? ResidualBlockCoverage = null)
{
    /// <summary>Layers in the square.</summary>
    public int Length => Last - First + 1;

    /// <summary>Whether the best square is brighter than the reference at all (Strength &gt; 0).</summary>
    public bool Found => Strength > 0;
}

/// <summary>
/// The block-structure score of a minibatch CKA map with its bootstrap over batches of test examples.
/// </summary>
/// <param name="Point">The score of the map itself (all batches).</param>
/// <param name="Strength">Percentile bootstrap interval of the strength; each replicate map finds its own best square.
/// <see cref="Interval.N"/> counts the batches resampled.</param>
/// <param name="Coverage">Percentile bootstrap interval of the coverage of the replicates' best squares.</param>
public sealed record BlockStructureScoreBootstrap(BlockStructureScoreResult Point, Interval Strength, Interval Coverage);

/// <summary>
/// A threshold-free, relative score of block structure (Nguyen, Raghu and Kornblith 2021 show it by
/// eye): how much a square of consecutive layers on a within-model CKA map is more similar than a
/// block-free network would be at the same layer distances. Derivation and limits:
/// docs/block-structure.md.
/// <list type="number">
/// <item>Symmetrise: S[i, j] = (C[i, j] + C[j, i]) / 2 (NaN when either is NaN).</item>
/// <item>Reference profile: r(d) = the q-quantile (linear interpolation, numpy's default) of the defined
/// S[i, i + d], i = 0..L-1-d. With a low q (default 0.1) it comes from the pairs outside a block: at every
/// distance exactly L - m of the L - d pairs are not inside a block of m layers, so r(d) stays out of the
/// block while q (L - d - 1) &lt;= L - m - 1, i.e. for blocks covering up to about 1 - q of the layers.</item>
/// <item>Excess: E[i, j] = S[i, j] - r(|i - j|), 0 on the diagonal (r(0) = 1 = CKA of a layer with itself); an
/// undefined (NaN) cell counts as excess 0 (no evidence either way) but still counts in the mean, so a square gains
/// nothing from undefined layers.</item>
/// <item>Best square: over all a &lt; b, maximise Strength(a, b) = mean_{i, j in a..b} E[i, j] x (b - a + 1) / L
/// (the mean over all m^2 cells, the diagonal included: the discrete form of the mean excess over the square's area,
/// which makes the score the same when the same network is tapped more densely),
/// each candidate in O(1) from 2-D prefix sums of E (O(L^2) candidates). Ties go to the larger square, then the earlier.</item>
/// </list>
/// A planted square of constant excess e off its diagonal is recovered exactly: a sub-square of k &lt;= m layers
/// scores e (k - 1) / L, growing with k; each layer added outside adds cells of zero excess and lowers the score.
/// </summary>
public static class BlockStructureScore
{
    /// <summary>The default quantile of CKA per layer distance that makes the block-free reference.</summary>
    public const double DefaultReferenceQuantile = 0.1;

    /// <summary>Scores a within-model CKA map.</summary>
    /// <param name="cka">L x L CKA map, layers in forward order.</param>
    /// <param name="layers">The L layer names.</param>
    /// <param name="residualBlockOf">Optional unit map: for each layer, the index of the residual block it belongs to
    /// (-1 for none, e.g. the stem); see <see cref="ResidualBlockUnits"/>. Fills the residual-block counts.</param>
    /// <param name="referenceQuantile">q in [0, 0.5): the quantile per distance that makes the reference.</param>
    public static BlockStructureScoreResult Score(double[,] cka, IReadOnlyList<string> layers,
                                                  IReadOnlyList<int>? residualBlockOf = null,
                                                  double referenceQuantile = DefaultReferenceQuantile)
    {
        int l = layers.Count;
        if (cka.GetLength(0) != l || cka.GetLength(1) != l)
        {
            throw new RepscopeException($"block-structure score: CKA matrix is {cka.GetLength(0)} x {cka.GetLength(1)}, expected {l} x {l} for {l} layers");
        }
        if (l < 2) { throw new RepscopeException($"block-structure score: needs at least 2 layers, got {l}"); }
        if (!(referenceQuantile >= 0 && referenceQuantile < 0.5))
        {
            throw new RepscopeException($"block-structure score: reference quantile must be in [0, 0.5), got {referenceQuantile}");
        }
        if (residualBlockOf is not null && residualBlockOf.Count != l)
        {
            throw new RepscopeException($"block-structure score: unit map has {residualBlockOf.Count} entries for {l} layers");
        }

        var s = new double[l, l];
        for (int i = 0; i < l; i++)
        {
            for (int j = 0; j < l; j++) { s[i, j] = (cka[i, j] + cka[j, i]) / 2; }  // NaN propagates
        }
        var reference = ReferenceProfile(s, referenceQuantile);

        // prefix[i + 1, j + 1] = sum of E[0..i, 0..j]
        var prefix = new double[l + 1, l + 1];
        for (int i = 0; i < l; i++)
        {
            double row = 0;
            for (int j = 0; j < l; j++)
            {
                double e = i == j || double.IsNaN(s[i, j]) || double.IsNaN(reference[Math.Abs(i - j)]) ? 0 : s[i, j] - reference[Math.Abs(i - j)];
                row += e;
                prefix[i + 1, j + 1] = prefix[i, j + 1] + row;
            }
        }

        int bestFirst = 0, bestLast = l - 1;
        double bestStrength = double.NegativeInfinity, bestMean = double.NaN;
        for (int m = l; m >= 2; m--)
        {
            for (int a = 0; a + m <= l; a++)
            {
                int b = a + m;   // exclusive
                double sum = prefix[b, b] - prefix[a, b] - prefix[b, a] + prefix[a, a];
                double mean = sum / ((double)m * m);
                double strength = mean * m / l;
                if (strength > bestStrength) { bestStrength = strength; bestMean = mean; bestFirst = a; bestLast = b - 1; }
            }
        }

        int? units = null;
        double? unitCoverage = null;
        if (residualBlockOf is not null)
        {
            int inside = residualBlockOf.Skip(bestFirst).Take(bestLast - bestFirst + 1).Where(u => u >= 0).Distinct().Count();
            int all = residualBlockOf.Where(u => u >= 0).Distinct().Count();
            units = inside;
            unitCoverage = all == 0 ? double.NaN : (double)inside / all;
        }
        return new BlockStructureScoreResult(l, bestFirst, bestLast, layers[bestFirst], layers[bestLast], bestMean,
                                             (bestLast - bestFirst + 1) / (double)l, bestStrength, referenceQuantile, reference,
                                             units, unitCoverage);
    }

    /// <summary>
    /// The score of the map of <paramref name="state"/> and its percentile bootstrap interval over batches of test
    /// examples (<see cref="CkaBatchState.Bootstrap"/>: replicate r from stream r of <paramref name="seed"/>, so the
    /// interval does not depend on the thread count). Each replicate map is scored afresh (its own reference and
    /// best square), so the interval includes the uncertainty of where the square is.
    /// </summary>
    public static BlockStructureScoreBootstrap Bootstrap(CkaBatchState state, IReadOnlyList<int>? residualBlockOf = null,
        int replicates = Intervals.DefaultReplicates, ulong seed = Intervals.DefaultSeed, double level = Intervals.DefaultLevel,
        double referenceQuantile = DefaultReferenceQuantile, int? threads = null)
    {
        if (state.IsCrossModel) { throw new RepscopeException("block-structure score: needs a within-model CKA map, got a map across two models"); }
        var point = Score(state.Result().Values, state.Rows, residualBlockOf, referenceQuantile);
        var maps = state.Bootstrap(replicates, seed, threads);
        var scores = new BlockStructureScoreResult[maps.Count];
        Parallel.For(0, maps.Count, new ParallelOptions { MaxDegreeOfParallelism = threads ?? -1 },
                     r => scores[r] = Score(maps[r].Values, state.Rows, residualBlockOf, referenceQuantile));
        return new BlockStructureScoreBootstrap(point,
            Intervals.Percentile(point.Strength, scores.Select(x => x.Strength).ToArray(), state.Batches, level, seed),
            Intervals.Percentile(point.Coverage, scores.Select(x => x.Coverage).ToArray(), state.Batches, level, seed));
    }

    /// <summary>
    /// The unit map of a ResNet's taps: for each layer named "stageK.blockJ" or "stageK.blockJ.anything", the
    /// running index (0, 1, ...) of residual block (K, J) in order of first appearance; -1 for any other layer.
    /// </summary>
    public static int[] ResidualBlockUnits(IReadOnlyList<string> layers)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var units = new int[layers.Count];
        for (int i = 0; i < layers.Count; i++)
        {
            var parts = layers[i].Split('.');
            if (parts.Length >= 2 && LayerNames.StageNumber(layers[i]) > 0 && parts[1].StartsWith("block", StringComparison.Ordinal))
            {
                string key = parts[0] + "." + parts[1];
                if (!index.TryGetValue(key, out int u)) { u = index.Count; index[key] = u; }
                units[i] = u;
            }
            else { units[i] = -1; }
        }
        return units;
    }

    private static double[] ReferenceProfile(double[,] s, double q)
    {
        int l = s.GetLength(0);
        var reference = new double[l];
        reference[0] = 1;
        var values = new List<double>(l);
        for (int d = 1; d < l; d++)
        {
            values.Clear();
            for (int i = 0; i + d < l; i++) { if (!double.IsNaN(s[i, i + d])) { values.Add(s[i, i + d]); } }
            values.Sort();
            reference[d] = values.Count == 0 ? double.NaN : Intervals.SortedQuantile(values, q);
        }
        return reference;
    }
}
