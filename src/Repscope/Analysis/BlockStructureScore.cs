using Repscope.Analysis.Statistics;
using Repscope.Models;
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
/// <param name="MeanExcess">Mean over the m x m cells of the square of CKA minus the reference at their layer distance,
/// the reference being the mean CKA of the pairs at that distance outside the square (the diagonal has excess 0).</param>
/// <param name="Coverage">Fraction of the layers inside the square: (Last - First + 1) / Layers.</param>
/// <param name="Strength">MeanExcess x Coverage, the quantity the square maximises. 0 for a map without block structure
/// (uniformly high, or CKA a function of layer distance only); positive values measure how much brighter a large square
/// is than the rest of the same network at the same layer distances.</param>
/// <param name="ReferenceProfile">Index d = 0..Layers-1: the reference of the best square at layer distance d, i.e. the
/// mean CKA of the pairs (i, i + d) not both inside the square (for d at least the square's length: of all pairs at d);
/// entry 0 is 1 by definition; NaN where no such pair is defined.</param>
/// <param name="ResidualBlocks">Residual blocks with at least one tap inside the square (null without a unit map).</param>
/// <param name="ResidualBlockCoverage">ResidualBlocks over the residual blocks with a tap in the map (null without a unit map).</param>
public sealed record BlockStructureScoreResult(
    int Layers, int First, int Last, string FirstLayer, string LastLayer,
    double MeanExcess, double Coverage, double Strength,
    IReadOnlyList<double> ReferenceProfile,
    int? ResidualBlocks = null, double? ResidualBlockCoverage = null)
{
    /// <summary>Layers in the square.</summary>
    public int Length => Last - First + 1;

    /// <summary>Whether the best square is brighter than its reference at all (Strength &gt; 0).</summary>
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
/// eye): how much a square of consecutive layers on a within-model CKA map is more similar than the
/// rest of the same network at the same layer distances. Derivation and limits: docs/block-structure.md.
/// <list type="number">
/// <item>Symmetrise: S[i, j] = (C[i, j] + C[j, i]) / 2 (NaN when either is NaN).</item>
/// <item>For a square a..b of m = b - a + 1 &lt; L layers and each distance d = 1..m-1, the reference r_ab(d) is the
/// mean of the defined S[i, i + d] whose pair is not inside the square (L - m pairs: those that start before a or end
/// after b). A map whose CKA depends on layer distance alone has excess 0 everywhere, with or without noise (the
/// reference is a mean, not a low quantile, so noise does not lift every cell above it).</item>
/// <item>Excess: E[i, j] = S[i, j] - r_ab(|i - j|) inside the square, 0 on the diagonal; an undefined (NaN) cell, or a
/// distance with no defined pair outside, counts as excess 0 (no evidence either way) but still counts in the mean, so
/// a square gains nothing from undefined layers.</item>
/// <item>Best square: over all a &lt; b with m &lt; L, maximise Strength(a, b) = mean_{i, j in a..b} E[i, j] x m / L
/// (the mean over all m^2 cells, the diagonal included: the discrete form of the mean excess over the square's area,
/// which makes the score the same when the same network is tapped more densely). With prefix sums along each diagonal
/// every candidate costs O(m), O(L^3) in all. Ties go to the larger square, then the earlier. The whole map (m = L) has
/// no outside to compare with and is not a candidate: one square covering every layer cannot be told from no
/// structure.</item>
/// </list>
/// A planted square of constant excess e over a distance-only background is recovered exactly, with strength
/// e (m - 1) / L: a sub-square has part of the square in its reference, and each layer added outside adds cells of
/// excess 0.
/// </summary>
public static class BlockStructureScore
{
    /// <summary>A mean excess smaller than this in magnitude is rounding of the prefix sums and counts as 0.</summary>
    public const double RoundingTolerance = 1e-12;

    /// <summary>Scores a within-model CKA map.</summary>
    /// <param name="cka">L x L CKA map, layers in forward order.</param>
    /// <param name="layers">The L layer names.</param>
    /// <param name="residualBlockOf">Optional unit map: for each layer, the index of the residual block it belongs to
    /// (-1 for none, e.g. the stem); see <see cref="ResidualBlockUnits"/>. Fills the residual-block counts.</param>
    public static BlockStructureScoreResult Score(double[,] cka, IReadOnlyList<string> layers,
                                                  IReadOnlyList<int>? residualBlockOf = null)
    {
        int l = layers.Count;
        if (cka.GetLength(0) != l || cka.GetLength(1) != l)
        {
            throw new RepscopeException($"block-structure score: CKA matrix is {cka.GetLength(0)} x {cka.GetLength(1)}, expected {l} x {l} for {l} layers");
        }
        if (l < 3) { throw new RepscopeException($"block-structure score: needs at least 3 layers (a square and an outside), got {l}"); }
        if (residualBlockOf is not null && residualBlockOf.Count != l)
        {
            throw new RepscopeException($"block-structure score: unit map has {residualBlockOf.Count} entries for {l} layers");
        }

        // Prefix sums along each diagonal d: sum[d][k] and count[d][k] over the defined S[i, i + d], i < k.
        var sum = new double[l][];
        var count = new int[l][];
        for (int d = 1; d < l; d++)
        {
            sum[d] = new double[l - d + 1];
            count[d] = new int[l - d + 1];
            for (int i = 0; i + d < l; i++)
            {
                double v = (cka[i, i + d] + cka[i + d, i]) / 2;   // NaN propagates
                bool defined = !double.IsNaN(v);
                sum[d][i + 1] = sum[d][i] + (defined ? v : 0);
                count[d][i + 1] = count[d][i] + (defined ? 1 : 0);
            }
        }

        // Layers a..b at distance d: the sum and count of the defined pairs inside the square, and the mean of those outside
        // (NaN when none is defined).
        (double InSum, int InCount, double OutMean) Band(int d, int a, int b)
        {
            double inSum = d <= b - a ? sum[d][b - d + 1] - sum[d][a] : 0;
            int inCount = d <= b - a ? count[d][b - d + 1] - count[d][a] : 0;
            int outCount = count[d][l - d] - inCount;
            return (inSum, inCount, outCount == 0 ? double.NaN : (sum[d][l - d] - inSum) / outCount);
        }

        int bestFirst = 0, bestLast = l - 2;
        double bestStrength = double.NegativeInfinity, bestMean = double.NaN;
        for (int m = l - 1; m >= 2; m--)
        {
            for (int a = 0; a + m <= l; a++)
            {
                int b = a + m - 1;
                double excess = 0;
                for (int d = 1; d < m; d++)
                {
                    var (inSum, inCount, outMean) = Band(d, a, b);
                    if (inCount == 0 || double.IsNaN(outMean)) { continue; }
                    excess += 2 * (inSum - inCount * outMean);   // both triangles
                }
                double mean = excess / ((double)m * m);
                if (Math.Abs(mean) < RoundingTolerance) { mean = 0; }   // sums of equal values that differ only by rounding
                double strength = mean * m / l;
                if (strength > bestStrength) { bestStrength = strength; bestMean = mean; bestFirst = a; bestLast = b; }
            }
        }

        var reference = new double[l];
        reference[0] = 1;
        int length = bestLast - bestFirst + 1;
        for (int d = 1; d < l; d++) { reference[d] = Band(d, bestFirst, bestLast).OutMean; }

        int? units = null;
        double? unitCoverage = null;
        if (residualBlockOf is not null)
        {
            int inside = residualBlockOf.Skip(bestFirst).Take(length).Where(u => u >= 0).Distinct().Count();
            int all = residualBlockOf.Where(u => u >= 0).Distinct().Count();
            units = inside;
            unitCoverage = all == 0 ? double.NaN : (double)inside / all;
        }
        return new BlockStructureScoreResult(l, bestFirst, bestLast, layers[bestFirst], layers[bestLast], bestMean,
                                             length / (double)l, bestStrength, reference, units, unitCoverage);
    }

    /// <summary>
    /// The score of the map of <paramref name="state"/> and its percentile bootstrap interval over batches of test
    /// examples (<see cref="CkaBatchState.Bootstrap"/>: replicate r from stream r of <paramref name="seed"/>, so the
    /// interval does not depend on the thread count). Each replicate map is scored afresh (its own best square and
    /// reference), so the interval includes the uncertainty of where the square is. Each replicate map is scored as soon as
    /// it is made and dropped: held all at once (as <see cref="CkaBatchState.Bootstrap"/> returns them), the 2,000 maps of
    /// 77 layers were 93 MB of managed memory at the end of an analysis, on top of everything it still held.
    /// </summary>
    public static BlockStructureScoreBootstrap Bootstrap(CkaBatchState state, IReadOnlyList<int>? residualBlockOf = null,
        int replicates = Intervals.DefaultReplicates, ulong seed = Intervals.DefaultSeed, double level = Intervals.DefaultLevel,
        int? threads = null)
    {
        if (state.IsCrossModel) { throw new RepscopeException("block-structure score: needs a within-model CKA map, got a map across two models"); }
        var point = Score(state.Result().Values, state.Rows, residualBlockOf);
        state.CheckBootstrap(replicates);
        var scores = new BlockStructureScoreResult[replicates];
        Parallel.For(0, replicates, new ParallelOptions { MaxDegreeOfParallelism = threads ?? -1 },
                     r => scores[r] = Score(state.Result(CkaBatchState.ReplicateBatches(state.Batches, seed, r)).Values, state.Rows, residualBlockOf));
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
}
