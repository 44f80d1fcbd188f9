namespace Repscope.Analysis.Statistics;

/// <summary>How an <see cref="Interval"/> was made.</summary>
public enum IntervalMethod
{
    /// <summary>Percentile bootstrap: the (1 - level)/2 and (1 + level)/2 quantiles of replicate statistics.</summary>
    PercentileBootstrap,
    /// <summary>Paired percentile bootstrap over examples of a difference of two accuracies on the same examples.</summary>
    PairedBootstrap,
    /// <summary>Student t interval of a mean, df = n - 1.</summary>
    StudentT,
    /// <summary>Welch t interval of a difference of two independent means, Welch-Satterthwaite df.</summary>
    Welch,
}

/// <summary>
/// An estimate with a two-sided interval at <see cref="Level"/> (e.g. 0.95).
/// </summary>
/// <param name="Estimate">The point estimate (the statistic on the data, not the replicates' mean).</param>
/// <param name="Low">Lower end; NaN when <see cref="Undefined"/>.</param>
/// <param name="High">Upper end; NaN when <see cref="Undefined"/>.</param>
/// <param name="Level">Coverage the interval aims at, in (0, 1).</param>
/// <param name="Method">How it was made.</param>
/// <param name="N">Observations the estimate rests on: examples for a bootstrap over examples, seeds (values) for a t interval (both groups together for Welch).</param>
/// <param name="Df">Degrees of freedom of a t interval; NaN for a bootstrap.</param>
/// <param name="Replicates">Bootstrap replicates that entered the percentiles (finite ones); 0 for a t interval.</param>
/// <param name="Seed">Seed of a bootstrap; null for a t interval.</param>
/// <param name="Undefined">Why there is no interval (then Low and High are NaN), or null.</param>
/// <param name="Note">A caveat on a defined interval (e.g. zero width because every value is the same), or null.</param>
public sealed record Interval(double Estimate, double Low, double High, double Level, IntervalMethod Method, int N,
                              double Df = double.NaN, int Replicates = 0, ulong? Seed = null, string? Undefined = null, string? Note = null)
{
    /// <summary>Whether the interval is defined and leaves <paramref name="value"/> outside (e.g. 0: "an effect").</summary>
    public bool Excludes(double value) => Undefined is null && (value < Low || value > High);
}

/// <summary>
/// The statistics front door for effect sizes with uncertainty: percentile bootstrap intervals of any statistic,
/// the paired bootstrap of a difference of accuracies over examples, t intervals of a mean over seeds and of a
/// difference of two groups' means (Welch). Every bootstrap is deterministic: replicate k draws from
/// <see cref="SeededRandom.ForStream"/>(seed, k), so the numbers depend on the seed only, never on the thread count.
/// </summary>
public static class Intervals
{
    /// <summary>Default coverage of an interval.</summary>
    public const double DefaultLevel = 0.95;

    /// <summary>Default number of bootstrap replicates.</summary>
    public const int DefaultReplicates = 2000;

    /// <summary>Default bootstrap seed.</summary>
    public const ulong DefaultSeed = 20210101;

    /// <summary>
    /// Percentile bootstrap interval from replicate statistics: the (1 - level)/2 and (1 + level)/2 quantiles (numpy's
    /// linear interpolation) of the finite replicates. Undefined with fewer than 2 finite replicates.
    /// </summary>
    /// <param name="estimate">The statistic on the original data.</param>
    /// <param name="replicates">The statistic on each bootstrap resample (NaN ones are left out and not counted).</param>
    /// <param name="n">Observations resampled (examples).</param>
    public static Interval Percentile(double estimate, IReadOnlyList<double> replicates, int n, double level = DefaultLevel,
                                      ulong? seed = null, IntervalMethod method = IntervalMethod.PercentileBootstrap)
    {
        CheckLevel(level);
        var finite = replicates.Where(double.IsFinite).ToList();
        if (finite.Count < 2)
        {
            return new Interval(estimate, double.NaN, double.NaN, level, method, n, Replicates: finite.Count, Seed: seed,
                                Undefined: $"{finite.Count} finite bootstrap replicate(s) of {replicates.Count}; an interval needs at least 2");
        }
        finite.Sort();
        double low = SortedQuantile(finite, (1 - level) / 2), high = SortedQuantile(finite, (1 + level) / 2);
        string? note = finite.Count < replicates.Count ? $"{replicates.Count - finite.Count} of {replicates.Count} replicates were undefined (NaN) and left out" : null;
        return new Interval(estimate, low, high, level, method, n, Replicates: finite.Count, Seed: seed, Note: note);
    }

    /// <summary>
    /// Bootstrap over n observations: replicate k resamples n indices with replacement (from stream k of
    /// <paramref name="seed"/>) and evaluates <paramref name="statistic"/> on them; replicates run in parallel.
    /// The estimate is the statistic on the identity resample 0..n-1.
    /// </summary>
    /// <param name="statistic">The statistic of a resample, given as indices into the observations (called from several threads).</param>
    /// <param name="threads">Most threads to use (null: as many as the runtime likes); the result does not depend on it.</param>
    public static Interval Bootstrap(int n, Func<int[], double> statistic, int replicates = DefaultReplicates, ulong seed = DefaultSeed,
                                     double level = DefaultLevel, int? threads = null)
    {
        if (n < 1) { throw new RepscopeException($"bootstrap: needs at least 1 observation, got {n}"); }
        CheckReplicates(replicates);
        double estimate = statistic(Enumerable.Range(0, n).ToArray());
        var values = new double[replicates];
        Parallel.For(0, replicates, new ParallelOptions { MaxDegreeOfParallelism = threads ?? -1 }, k =>
        {
            var rng = SeededRandom.ForStream(seed, k);
            var idx = new int[n];
            for (int i = 0; i < n; i++) { idx[i] = rng.Next(n); }
            values[k] = statistic(idx);
        });
        return Percentile(estimate, values, n, level, seed);
    }

    /// <summary>
    /// Paired bootstrap over examples of accuracy(a) - accuracy(b), where a[i] and b[i] say whether two
    /// classifiers (e.g. a model before and after deleting a residual block, or probes on two layers) get the same
    /// example i right. Resamples examples, keeping each example's pair together.
    /// </summary>
    public static Interval PairedDifference(IReadOnlyList<bool> a, IReadOnlyList<bool> b, int replicates = DefaultReplicates,
                                            ulong seed = DefaultSeed, double level = DefaultLevel)
    {
        if (a.Count != b.Count) { throw new RepscopeException($"paired bootstrap: {a.Count} and {b.Count} examples; the two must be the same examples"); }
        if (a.Count == 0) { throw new RepscopeException("paired bootstrap: no examples"); }
        var d = new sbyte[a.Count];
        for (int i = 0; i < d.Length; i++) { d[i] = (sbyte)((a[i] ? 1 : 0) - (b[i] ? 1 : 0)); }
        var r = Bootstrap(d.Length, idx =>
        {
            long sum = 0;
            foreach (int i in idx) { sum += d[i]; }
            return sum / (double)idx.Length;
        }, replicates, seed, level);
        return r with { Method = IntervalMethod.PairedBootstrap };
    }

    /// <summary>Student t interval of the mean of <paramref name="values"/> (e.g. one value per seed): mean +/- t_{(1+level)/2, n-1} s / sqrt(n).</summary>
    public static Interval Mean(IReadOnlyList<double> values, double level = DefaultLevel)
    {
        CheckLevel(level);
        CheckValues(values, "values");
        int n = values.Count;
        var span = values.ToArray();
        double mean = TTest.Mean(span);
        double se = Math.Sqrt(TTest.Variance(span, mean) / n);
        double half = StudentT.Quantile((1 + level) / 2, n - 1) * se;
        return new Interval(mean, mean - half, mean + half, level, IntervalMethod.StudentT, n, n - 1,
                            Note: se == 0 ? ZeroWidth : null);
    }

    /// <summary>
    /// Welch t interval of mean(a) - mean(b) for two independent groups (e.g. the seeds of two architectures):
    /// difference +/- t_{(1+level)/2, df} sqrt(s_a^2/n_a + s_b^2/n_b), Welch-Satterthwaite df. Undefined when both
    /// groups have zero variance (df = 0/0).
    /// </summary>
    public static Interval WelchDifference(IReadOnlyList<double> a, IReadOnlyList<double> b, double level = DefaultLevel)
    {
        CheckLevel(level);
        CheckValues(a, "group A");
        CheckValues(b, "group B");
        var t = TTest.Welch(a.ToArray(), b.ToArray());
        double va = t.VarianceA / t.CountA, vb = t.VarianceB / t.CountB;
        int n = t.CountA + t.CountB;
        if (va + vb == 0)
        {
            return new Interval(t.Difference, double.NaN, double.NaN, level, IntervalMethod.Welch, n,
                                Undefined: "zero variance in both groups: the Welch interval is undefined (df = 0/0); with few seeds, identical values can be chance");
        }
        double half = StudentT.Quantile((1 + level) / 2, t.Df) * Math.Sqrt(va + vb);
        return new Interval(t.Difference, t.Difference - half, t.Difference + half, level, IntervalMethod.Welch, n, t.Df);
    }

    private const string ZeroWidth = "every value is the same: the interval has width 0 (with few seeds, identical values can be chance)";

    /// <summary>numpy's default quantile (linear interpolation) of an already sorted, non-empty list.</summary>
    internal static double SortedQuantile(IReadOnlyList<double> sorted, double q)
    {
        double position = q * (sorted.Count - 1);
        int lo = (int)Math.Floor(position);
        int hi = Math.Min(lo + 1, sorted.Count - 1);
        return sorted[lo] + (position - lo) * (sorted[hi] - sorted[lo]);
    }

    private static void CheckLevel(double level)
    {
        if (!(level > 0 && level < 1)) { throw new RepscopeException($"interval: level must be in (0, 1), got {level}"); }
    }

    private static void CheckReplicates(int replicates)
    {
        if (replicates < 2) { throw new RepscopeException($"bootstrap: needs at least 2 replicates, got {replicates}"); }
    }

    private static void CheckValues(IReadOnlyList<double> values, string name)
    {
        if (values.Count < 2) { throw new RepscopeException($"{name}: a t interval needs at least 2 values (e.g. 2 seeds), got {values.Count}"); }
        for (int i = 0; i < values.Count; i++)
        {
            if (!double.IsFinite(values[i])) { throw new RepscopeException($"{name}: value {i} is {values[i]}; a t interval needs finite values"); }
        }
    }
}
