using System.Numerics;

namespace Repscope.Analysis.Statistics;

/// <summary>
/// A permutation test over the seed labels of two groups of runs (Nguyen et al. 2021, Fig. 6: do two architectures
/// make different errors, beyond the disagreement of seeds of one architecture?).
/// </summary>
/// <param name="Statistic">What was measured, in words.</param>
/// <param name="Observed">The statistic with the true group labels.</param>
/// <param name="NullMean">Mean of the statistic over the relabelings (what seeds alone give).</param>
/// <param name="NullHigh">The 95th percentile of the statistic over the relabelings.</param>
/// <param name="P">One-sided p-value: the fraction of relabelings (the true one included) with a statistic at least the observed one;
/// with sampling (1 + count) / (1 + sampled).</param>
/// <param name="SmallestP">The smallest p-value this design can give (1 / distinct relabelings, times 2 when the groups have equal
/// size because swapping the groups gives the same statistic; 1 / (1 + sampled) with sampling).</param>
/// <param name="Relabelings">Relabelings evaluated.</param>
/// <param name="Exact">Whether every relabeling was enumerated (true) or a seeded sample drawn.</param>
/// <param name="Seed">The sampling seed (null when exact).</param>
/// <param name="CountA">Runs in group A.</param>
/// <param name="CountB">Runs in group B.</param>
public sealed record PermutationTestResult(string Statistic, double Observed, double NullMean, double NullHigh, double P, double SmallestP,
                                           long Relabelings, bool Exact, ulong? Seed, int CountA, int CountB);

/// <summary>
/// Permutation tests over seed labels on per-example correctness. The statistic is the mean over test examples of
/// |acc_A(i) - acc_B(i)|, where acc_G(i) is the fraction of group G's runs that get example i right. Under the
/// null hypothesis (the two groups' runs are exchangeable: their errors differ no more than seeds of one
/// architecture do) every split of the nA + nB runs into groups of nA and nB is as likely as the true one.
/// When there are at most <c>maxRelabelings</c> splits all are enumerated (exact test); otherwise a seeded sample.
/// The statistic also grows with a difference of overall accuracy; read it beside an accuracy-match check.
/// </summary>
public static class SeedPermutation
{
    /// <summary>Default limit of relabelings enumerated exactly, and sample size beyond it.</summary>
    public const int DefaultMaxRelabelings = 20000;

    /// <summary>What <see cref="PerExampleDifference"/> measures.</summary>
    public const string MeanAbsolutePerExampleDifference = "mean over examples of |acc_A(i) - acc_B(i)|";

    /// <param name="a">Group A: per run, per example, whether the run is right (every run the same examples in the same order).</param>
    /// <param name="b">Group B, likewise.</param>
    /// <param name="maxRelabelings">Enumerate every split when there are at most this many; otherwise sample this many.</param>
    /// <param name="seed">Seed of the sample (relabeling k from stream k, so independent of threads).</param>
    public static PermutationTestResult PerExampleDifference(IReadOnlyList<IReadOnlyList<bool>> a, IReadOnlyList<IReadOnlyList<bool>> b,
        int maxRelabelings = DefaultMaxRelabelings, ulong seed = Intervals.DefaultSeed)
    {
        int na = a.Count, nb = b.Count, runs = na + nb;
        if (na < 1 || nb < 1) { throw new RepscopeException($"permutation test: needs at least 1 run per group, got {na} and {nb}"); }
        if (runs > 62) { throw new RepscopeException($"permutation test: at most 62 runs in all, got {runs}"); }
        if (maxRelabelings < 1) { throw new RepscopeException($"permutation test: maxRelabelings must be positive, got {maxRelabelings}"); }
        int n = a[0].Count;
        if (n == 0) { throw new RepscopeException("permutation test: no examples"); }
        var all = a.Concat(b).ToList();
        for (int r = 0; r < runs; r++)
        {
            if (all[r].Count != n) { throw new RepscopeException($"permutation test: run {r} has {all[r].Count} examples, run 0 has {n}"); }
        }
        // Each example as a bit mask of the runs that get it right; examples with the same mask behave alike.
        var histogram = new Dictionary<ulong, int>();
        for (int i = 0; i < n; i++)
        {
            ulong mask = 0;
            for (int r = 0; r < runs; r++) { if (all[r][i]) { mask |= 1UL << r; } }
            histogram[mask] = histogram.GetValueOrDefault(mask) + 1;
        }
        var masks = histogram.Keys.ToArray();
        var counts = masks.Select(m => histogram[m]).ToArray();
        var totals = masks.Select(m => BitOperations.PopCount(m)).ToArray();
        double Statistic(ulong groupA)
        {
            double sum = 0;
            for (int k = 0; k < masks.Length; k++)
            {
                int inA = BitOperations.PopCount(masks[k] & groupA);
                sum += counts[k] * Math.Abs(inA / (double)na - (totals[k] - inA) / (double)nb);
            }
            return sum / n;
        }

        ulong observedGroup = (1UL << na) - 1;
        double observed = Statistic(observedGroup);
        double tolerance = 1e-12;   // equal statistics computed from different splits may differ in the last bits
        double combinations = Combinations(runs, na);
        List<double> values;
        bool exact = combinations <= maxRelabelings;
        if (exact)
        {
            values = [];
            foreach (ulong split in Splits(runs, na)) { values.Add(Statistic(split)); }
        }
        else
        {
            var sampled = new double[maxRelabelings];
            Parallel.For(0, maxRelabelings, k =>
            {
                var rng = SeededRandom.ForStream(seed, k);
                var order = Enumerable.Range(0, runs).ToArray();
                for (int i = runs - 1; i > 0; i--) { int j = rng.Next(i + 1); (order[i], order[j]) = (order[j], order[i]); }
                ulong split = 0;
                for (int i = 0; i < na; i++) { split |= 1UL << order[i]; }
                sampled[k] = Statistic(split);
            });
            values = [.. sampled];
        }
        int atLeast = values.Count(v => v >= observed - tolerance);
        double p = exact ? atLeast / (double)values.Count : (1 + atLeast) / (1.0 + values.Count);
        double smallest = exact ? (na == nb ? 2.0 : 1.0) / values.Count : 1 / (1.0 + values.Count);
        var sorted = values.OrderBy(v => v).ToList();
        return new PermutationTestResult(MeanAbsolutePerExampleDifference, observed, values.Average(), Intervals.SortedQuantile(sorted, 0.95),
                                         p, smallest, values.Count, exact, exact ? null : seed, na, nb);
    }

    /// <summary>Every subset of size k of n runs, as bit masks, in lexicographic order of the mask (Gosper's hack).</summary>
    private static IEnumerable<ulong> Splits(int n, int k)
    {
        ulong split = (1UL << k) - 1, limit = 1UL << n;
        while (split < limit)
        {
            yield return split;
            ulong c = split & (0 - split), r = split + c;
            split = (((r ^ split) >> 2) / c) | r;
        }
    }

    private static double Combinations(int n, int k)
    {
        double c = 1;
        for (int i = 1; i <= k; i++) { c = c * (n - k + i) / i; }
        return Math.Round(c);
    }
}
