using Repscope.Analysis.Statistics;

namespace Repscope.Tests.Analysis.Statistics;

/// <summary>The permutation test over seed labels on per-example correctness.</summary>
public class PermutationTestTests
{
    /// <summary>Runs that get example i right with probability accuracy, independently.</summary>
    private static List<IReadOnlyList<bool>> Runs(int count, int n, double accuracy, ulong seed)
    {
        var runs = new List<IReadOnlyList<bool>>();
        for (int r = 0; r < count; r++)
        {
            var rng = SeededRandom.ForStream(seed, r);
            runs.Add(Enumerable.Range(0, n).Select(_ => rng.NextDouble() < accuracy).ToArray());
        }
        return runs;
    }

    /// <summary>Runs that share a per-example difficulty pattern (the architecture's), plus seed noise.</summary>
    private static List<IReadOnlyList<bool>> Architecture(int count, double[] difficulty, ulong seed)
    {
        var runs = new List<IReadOnlyList<bool>>();
        for (int r = 0; r < count; r++)
        {
            var rng = SeededRandom.ForStream(seed, r);
            runs.Add(difficulty.Select(d => rng.NextDouble() >= d).ToArray());
        }
        return runs;
    }

    private static double DirectStatistic(IReadOnlyList<IReadOnlyList<bool>> a, IReadOnlyList<IReadOnlyList<bool>> b)
    {
        int n = a[0].Count;
        double sum = 0;
        for (int i = 0; i < n; i++)
        {
            double pa = a.Count(r => r[i]) / (double)a.Count, pb = b.Count(r => r[i]) / (double)b.Count;
            sum += Math.Abs(pa - pb);
        }
        return sum / n;
    }

    [Fact]
    public void DifferentErrorPatternsAreDetectedExactlyAndTheStatisticMatchesADirectComputation()
    {
        var rng = new SeededRandom(1);
        int n = 500;
        var hardForA = Enumerable.Range(0, n).Select(_ => rng.NextDouble() < 0.2 ? 0.9 : 0.05).ToArray();
        var hardForB = Enumerable.Range(0, n).Select(_ => rng.NextDouble() < 0.2 ? 0.9 : 0.05).ToArray();
        var a = Architecture(4, hardForA, 10);
        var b = Architecture(4, hardForB, 20);
        var r = SeedPermutation.PerExampleDifference(a, b);
        Assert.True(r.Exact);
        Assert.Equal(70, r.Relabelings);          // C(8, 4)
        Assert.Null(r.Seed);
        Assert.Equal(2.0 / 70, r.SmallestP, 15);  // swapping A and B gives the same statistic
        Assert.Equal(2.0 / 70, r.P, 15);          // the true split and its swap are the two largest
        Assert.Equal(DirectStatistic(a, b), r.Observed, 12);
        Assert.True(r.Observed > r.NullHigh);
        Assert.Equal((4, 4), (r.CountA, r.CountB));
    }

    [Fact]
    public void TwoPlusTwoSeedsCannotGoBelowOneThird()
    {
        var a = Runs(2, 200, 0.9, 1);
        var b = Runs(2, 200, 0.9, 2);
        var r = SeedPermutation.PerExampleDifference(a, b);
        Assert.Equal(6, r.Relabelings);
        Assert.Equal(1.0 / 3, r.SmallestP, 15);
        Assert.True(r.P >= 1.0 / 3 - 1e-15);
    }

    /// <summary>Exchangeable runs: over 200 data sets the test rejects at 0.05 about 5 % of the time (not more).</summary>
    [Fact]
    public void UnderTheNullTheFalsePositiveRateIsAtMostTheLevel()
    {
        int rejected = 0, trials = 200;
        for (int t = 0; t < trials; t++)
        {
            var rng = SeededRandom.ForStream(99, t);
            var difficulty = Enumerable.Range(0, 300).Select(_ => rng.NextDouble() < 0.2 ? 0.7 : 0.05).ToArray();
            var runs = Architecture(8, difficulty, (ulong)t + 1000);
            var r = SeedPermutation.PerExampleDifference(runs.Take(4).ToList(), runs.Skip(4).ToList());
            if (r.P <= 0.05) { rejected++; }
        }
        // an exact permutation test is valid: expected rate <= 0.05 (here 2/70 = 0.029 is the only p <= 0.05); 3.2 sd above it
        Assert.InRange(rejected / (double)trials, 0, 0.05 + 3.2 * Math.Sqrt(0.05 * 0.95 / trials));
    }

    [Fact]
    public void ManyRunsAreSampledWithASeedDeterministically()
    {
        var a = Runs(10, 300, 0.85, 3);
        var b = Runs(9, 300, 0.85, 4);
        var r = SeedPermutation.PerExampleDifference(a, b, maxRelabelings: 2000, seed: 5);
        Assert.False(r.Exact);
        Assert.Equal(5UL, r.Seed);
        Assert.Equal(2000, r.Relabelings);
        Assert.Equal(1 / 2001.0, r.SmallestP, 15);
        Assert.InRange(r.P, 1 / 2001.0, 1);
        var again = SeedPermutation.PerExampleDifference(a, b, maxRelabelings: 2000, seed: 5);
        Assert.Equal((r.P, r.NullMean), (again.P, again.NullMean));
        var other = SeedPermutation.PerExampleDifference(a, b, maxRelabelings: 2000, seed: 6);
        Assert.NotEqual(r.NullMean, other.NullMean);
    }

    [Fact]
    public void BadInputsAreRejected()
    {
        Assert.Throws<RepscopeException>(() => SeedPermutation.PerExampleDifference([], Runs(2, 10, 0.5, 1)));
        Assert.Throws<RepscopeException>(() => SeedPermutation.PerExampleDifference(Runs(2, 10, 0.5, 1), Runs(2, 11, 0.5, 2)));
    }
}
