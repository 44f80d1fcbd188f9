using System.Text.Json;
using Repscope.Analysis.Statistics;

namespace Repscope.Tests.Analysis.Statistics;

/// <summary>
/// Intervals against scipy 1.10 / numpy 1.24 (tests/fixtures/interval_reference.json, written by
/// tests/fixtures/make_interval_reference.py) and by their properties: coverage in simulation, determinism,
/// independence of the thread count.
/// </summary>
public class IntervalsTests
{
    private static readonly JsonElement Reference = ReferenceFiles.Load("interval_reference.json");

    private static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(x => x.GetDouble()).ToArray();

    [Fact]
    public void StudentTQuantileMatchesScipyPpf()
    {
        int count = 0;
        foreach (var q in Reference.GetProperty("t_quantile").EnumerateArray())
        {
            double p = q.GetProperty("p").GetDouble(), df = q.GetProperty("df").GetDouble();
            double expected = q.GetProperty("ppf").GetDouble();
            if (p == 0.5) { Assert.Equal(0, StudentT.Quantile(p, df)); Assert.True(Math.Abs(expected) < 1e-15); }   // scipy: 8e-17 at df = 1
            else
            {
                StatsReferenceTests.Close(q.GetProperty("ppf_mpmath").GetDouble(), StudentT.Quantile(p, df), $"ppf({p}, {df}) vs mpmath", 1e-12);
                StatsReferenceTests.Close(expected, StudentT.Quantile(p, df), $"ppf({p}, {df}) vs scipy", 1e-8);   // scipy's ppf is good to ~2e-9
            }
            count++;
        }
        Assert.Equal(90, count);
        // Closed forms (exact): df = 1, t = tan(pi (p - 1/2)) = -cot(pi p), written without cancellation; df = 2, t = (2p - 1) / sqrt(2 p (1 - p)).
        foreach (double p in new[] { 1e-6, 0.025, 0.3, 0.6, 0.9, 0.975, 0.9995 })
        {
            StatsReferenceTests.Close(p < 0.5 ? -1 / Math.Tan(Math.PI * p) : 1 / Math.Tan(Math.PI * (1 - p)), StudentT.Quantile(p, 1), $"ppf({p}, 1) closed form", 1e-12);
            StatsReferenceTests.Close((2 * p - 1) / Math.Sqrt(2 * p * (1 - p)), StudentT.Quantile(p, 2), $"ppf({p}, 2) closed form", 1e-12);
        }
        Assert.True(double.IsNaN(StudentT.Quantile(0, 3)));
        Assert.True(double.IsNaN(StudentT.Quantile(0.5, 0)));
    }

    [Fact]
    public void MeanIntervalMatchesScipyTInterval()
    {
        foreach (var c in Reference.GetProperty("t_interval_mean").EnumerateArray())
        {
            var values = Doubles(c.GetProperty("values"));
            var r = Intervals.Mean(values, c.GetProperty("level").GetDouble());
            StatsReferenceTests.Close(c.GetProperty("mean").GetDouble(), r.Estimate, "mean", 1e-12);
            StatsReferenceTests.Close(c.GetProperty("low").GetDouble(), r.Low, $"low n={values.Length}", 1e-8);
            StatsReferenceTests.Close(c.GetProperty("high").GetDouble(), r.High, $"high n={values.Length}", 1e-8);
            Assert.Equal(values.Length - 1, r.Df);
            Assert.Equal(values.Length, r.N);
            Assert.Equal(IntervalMethod.StudentT, r.Method);
        }
    }

    [Fact]
    public void WelchIntervalMatchesScipy()
    {
        foreach (var c in Reference.GetProperty("welch_interval").EnumerateArray())
        {
            var a = Doubles(c.GetProperty("a"));
            var b = Doubles(c.GetProperty("b"));
            var r = Intervals.WelchDifference(a, b, c.GetProperty("level").GetDouble());
            StatsReferenceTests.Close(c.GetProperty("difference").GetDouble(), r.Estimate, "difference", 1e-12);
            StatsReferenceTests.Close(c.GetProperty("df").GetDouble(), r.Df, "df", 1e-10);
            // Ends near 0 cancel: compare to 1e-9 of the half-width.
            double half = (c.GetProperty("high").GetDouble() - c.GetProperty("low").GetDouble()) / 2;
            Assert.Equal(c.GetProperty("low").GetDouble(), r.Low, 1e-8 * half);
            Assert.Equal(c.GetProperty("high").GetDouble(), r.High, 1e-8 * half);
            Assert.Equal(a.Length + b.Length, r.N);
        }
    }

    [Fact]
    public void PercentileIntervalMatchesNumpy()
    {
        foreach (var c in Reference.GetProperty("percentile").EnumerateArray())
        {
            var reps = Doubles(c.GetProperty("replicates"));
            var r = Intervals.Percentile(0.123, reps, 50, c.GetProperty("level").GetDouble());
            StatsReferenceTests.Close(c.GetProperty("low").GetDouble(), r.Low, "low", 1e-12);
            StatsReferenceTests.Close(c.GetProperty("high").GetDouble(), r.High, "high", 1e-12);
            Assert.Equal(0.123, r.Estimate);
            Assert.Equal(reps.Length, r.Replicates);
        }
        var undefined = Intervals.Percentile(1, [double.NaN, 2], 10);
        Assert.NotNull(undefined.Undefined);
        Assert.True(double.IsNaN(undefined.Low));
        Assert.False(undefined.Excludes(0));
    }

    /// <summary>In simulation over 4,000 seeds the 95 % t interval of a normal mean (n = 4) covers it 95 % of the time.</summary>
    [Fact]
    public void MeanIntervalCoversTheTrueMeanAtItsLevel()
    {
        int covered = 0, trials = 4000;
        for (int s = 0; s < trials; s++)
        {
            var rng = new SeededRandom((ulong)s + 1);
            var x = Enumerable.Range(0, 4).Select(_ => 0.7 + 0.05 * Normal(rng)).ToArray();
            if (!Intervals.Mean(x).Excludes(0.7)) { covered++; }
        }
        double rate = covered / (double)trials;
        Assert.InRange(rate, 0.95 - 0.011, 0.95 + 0.011);   // +/- 3.2 standard errors of a proportion of 4,000
    }

    /// <summary>Welch's interval of a difference of two normal means (n = 3 and 5, unequal variances) covers it at about its level.</summary>
    [Fact]
    public void WelchIntervalCoversTheTrueDifference()
    {
        int covered = 0, trials = 4000;
        for (int s = 0; s < trials; s++)
        {
            var rng = new SeededRandom((ulong)s + 100_000);
            var a = Enumerable.Range(0, 3).Select(_ => 0.80 + 0.02 * Normal(rng)).ToArray();
            var b = Enumerable.Range(0, 5).Select(_ => 0.75 + 0.05 * Normal(rng)).ToArray();
            if (!Intervals.WelchDifference(a, b).Excludes(0.05)) { covered++; }
        }
        // Welch's interval is approximate (slightly conservative at small n): at least the level, within 3 points.
        Assert.InRange(covered / (double)trials, 0.95 - 0.011, 0.98);
    }

    /// <summary>The paired bootstrap of an accuracy difference covers the true difference at about its level (n = 400).</summary>
    [Fact]
    public void PairedBootstrapCoversTheTrueDifference()
    {
        int covered = 0, trials = 300;
        for (int s = 0; s < trials; s++)
        {
            var rng = new SeededRandom((ulong)s + 7);
            int n = 400;
            var a = new bool[n];
            var b = new bool[n];
            for (int i = 0; i < n; i++)
            {
                double u = rng.NextDouble();       // correlated pair: same example difficulty
                a[i] = u < 0.80;
                b[i] = u < 0.75;
            }
            if (!Intervals.PairedDifference(a, b, replicates: 500, seed: (ulong)s).Excludes(0.05)) { covered++; }
        }
        Assert.InRange(covered / (double)trials, 0.90, 0.99);   // 300 trials: +/- 3.2 standard errors is about 0.04
    }

    [Fact]
    public void PairedBootstrapIsExactAtItsEstimateAndDeterministicWhateverTheThreadCount()
    {
        var rng = new SeededRandom(3);
        var a = Enumerable.Range(0, 1000).Select(_ => rng.NextDouble() < 0.9).ToArray();
        var b = Enumerable.Range(0, 1000).Select(_ => rng.NextDouble() < 0.85).ToArray();
        var first = Intervals.PairedDifference(a, b, seed: 42);
        Assert.Equal(a.Count(x => x) / 1000.0 - b.Count(x => x) / 1000.0, first.Estimate, 12);
        Assert.Equal(IntervalMethod.PairedBootstrap, first.Method);
        Assert.Equal(1000, first.N);
        Assert.Equal(42UL, first.Seed);
        Assert.True(first.Low < first.Estimate && first.Estimate < first.High);
        // Second formulation: the bootstrap interval's half-width is about 1.96 x the standard error of the mean difference.
        var d = a.Zip(b, (x, y) => (x ? 1.0 : 0.0) - (y ? 1.0 : 0.0)).ToArray();
        double se = Math.Sqrt(TTest.Variance(d, d.Average()) / d.Length);
        Assert.InRange((first.High - first.Low) / 2, 1.96 * se * 0.9, 1.96 * se * 1.1);

        var one = Intervals.Bootstrap(1000, idx => idx.Average(i => d[i]), 300, 5, threads: 1);
        var many = Intervals.Bootstrap(1000, idx => idx.Average(i => d[i]), 300, 5, threads: 8);
        Assert.Equal((one.Low, one.High), (many.Low, many.High));
        var again = Intervals.PairedDifference(a, b, seed: 42);
        Assert.Equal((first.Low, first.High), (again.Low, again.High));
        var other = Intervals.PairedDifference(a, b, seed: 43);
        Assert.NotEqual((first.Low, first.High), (other.Low, other.High));
    }

    [Fact]
    public void DegenerateAndBadInputs()
    {
        var constant = Intervals.Mean([0.9, 0.9, 0.9]);
        Assert.Equal((0.9, 0.9), (constant.Low, constant.High));
        Assert.NotNull(constant.Note);
        var welch = Intervals.WelchDifference([0.9, 0.9], [0.8, 0.8]);
        Assert.NotNull(welch.Undefined);
        Assert.True(double.IsNaN(welch.Low));
        Assert.Equal(0.1, welch.Estimate, 12);
        Assert.Throws<RepscopeException>(() => Intervals.Mean([1.0]));
        Assert.Throws<RepscopeException>(() => Intervals.Mean([1.0, double.NaN]));
        Assert.Throws<RepscopeException>(() => Intervals.Mean([1.0, 2.0], level: 1));
        Assert.Throws<RepscopeException>(() => Intervals.PairedDifference([true], [true, false]));
    }

    internal static double Normal(SeededRandom rng)
    {
        double u1 = 1 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
