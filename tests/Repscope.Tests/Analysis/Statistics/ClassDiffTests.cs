using Repscope.Analysis.Statistics;
using Xunit.Abstractions;

namespace Repscope.Tests.Analysis.Statistics;

public class ClassDiffTests(ITestOutputHelper output)
{
    /// <summary>Per-class accuracies of <paramref name="runs"/> seeds: N(mean[c], sd) per class.</summary>
    internal static double[,] Accuracies(Random rng, int runs, double[] mean, double sd)
    {
        var m = new double[runs, mean.Length];
        for (int i = 0; i < runs; i++)
        {
            for (int c = 0; c < mean.Length; c++)
            {
                // Box-Muller
                double u1 = 1 - rng.NextDouble(), u2 = rng.NextDouble();
                m[i, c] = mean[c] + sd * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
            }
        }
        return m;
    }

    private static double[] ClassMeans(int classes, Random rng) =>
        Enumerable.Range(0, classes).Select(_ => 0.7 + 0.25 * rng.NextDouble()).ToArray();

    [Fact]
    public void PlantedDifferencesOnTwoClassesAreFoundOnExactlyThoseTwo()
    {
        const int seeds = 50;
        int exact = 0, missed = 0, extra = 0;
        for (int seed = 0; seed < seeds; seed++)
        {
            var rng = new Random(seed);
            double[] mean = ClassMeans(20, rng);
            double[] shifted = (double[])mean.Clone();
            shifted[3] -= 0.08;  // 4 standard deviations of a seed
            shifted[11] += 0.08;
            var r = ClassDiff.Compare(Accuracies(rng, 8, mean, 0.02), Accuracies(rng, 8, shifted, 0.02));
            int[] found = r.Classes.Where(c => c.Significant).Select(c => c.Class).ToArray();
            if (found.SequenceEqual(new[] { 3, 11 })) { exact++; }
            if (!found.Contains(3) || !found.Contains(11)) { missed++; }
            if (found.Except(new[] { 3, 11 }).Any()) { extra++; }
            if (seed == 0)
            {
                Assert.Equal(new[] { 3, 11 }, found);
                Assert.True(r.Classes[3].Difference > 0 && r.Classes[11].Difference < 0);
                Assert.Equal(20, r.Tested);
                Assert.Equal(2, r.SignificantCount);
            }
        }
        output.WriteLine($"planted: exactly {{3, 11}} in {exact}/{seeds} seeds, missed one in {missed}, extra classes in {extra}");
        // The family-wise error rate bounds seeds with extra classes at ~5%.
        Assert.True(exact >= 45, $"exactly the planted classes in {exact}/{seeds} seeds (missed {missed}, extra {extra})");
        Assert.True(extra <= 5, $"false positives in {extra}/{seeds} seeds");
    }

    [Fact]
    public void GroupsFromTheSameDistributionShowNoDifferenceInMostSeeds()
    {
        const int seeds = 50;
        int withAny = 0;
        for (int seed = 0; seed < seeds; seed++)
        {
            var rng = new Random(1000 + seed);
            double[] mean = ClassMeans(20, rng);
            foreach (var test in new[] { TTestKind.Student, TTestKind.Welch })
            {
                var r = ClassDiff.Compare(Accuracies(rng, 5, mean, 0.02), Accuracies(rng, 5, mean, 0.02), test);
                if (test == TTestKind.Student && r.SignificantCount > 0) { withAny++; }
            }
        }
        output.WriteLine($"same distribution: a significant class in {withAny}/{seeds} seeds");
        // Family-wise error rate alpha = 0.05: expect about 2.5 of 50.
        Assert.True(withAny <= 5, $"{withAny}/{seeds} seeds show a significant class");
    }

    [Fact]
    public void BothGroupsConstantWithEqualMeansIsUndefinedAndLeftOutOfTheCorrection()
    {
        var a = new double[,] { { 0.9, 0.80, 0.5 }, { 0.9, 0.82, 0.6 }, { 0.9, 0.81, 0.55 } };
        var b = new double[,] { { 0.9, 0.70, 0.5 }, { 0.9, 0.71, 0.7 } };
        var r = ClassDiff.Compare(a, b);
        var c0 = r.Classes[0];
        Assert.Equal(TTest.ZeroVarianceEqualMeans, c0.Undefined);
        Assert.True(double.IsNaN(c0.T) && double.IsNaN(c0.P) && double.IsNaN(c0.PAdjusted));
        Assert.False(c0.Significant);
        Assert.Equal(0, c0.Difference);
        Assert.Equal(2, r.Tested);
        // the other two are corrected among themselves only (m = 2)
        var only = HolmSidak.Adjust(new[] { r.Classes[1].P, r.Classes[2].P });
        Assert.Equal(only.Adjusted[0], r.Classes[1].PAdjusted);
        Assert.Equal(only.Adjusted[1], r.Classes[2].PAdjusted);
    }

    [Fact]
    public void BothGroupsConstantWithDifferentMeansIsUndefinedNeverPZero()
    {
        var r = TTest.Student(new[] { 0.9, 0.9, 0.9 }, new[] { 0.8, 0.8 });
        Assert.True(double.IsNaN(r.T) && double.IsNaN(r.P));
        Assert.Equal(TTest.ZeroVarianceDifferentMeans, r.Undefined);
        Assert.False(r.IsDefined);
        Assert.Equal(0.1, r.Difference, 12);   // the effect size is still reported
        var w = TTest.Welch(new[] { 0.8, 0.8 }, new[] { 0.9, 0.9, 0.9 });
        Assert.True(double.IsNaN(w.P));
        Assert.Equal(TTest.ZeroVarianceDifferentMeans, w.Undefined);
        var cd = ClassDiff.Compare(new double[,] { { 1, 0.5 }, { 1, 0.6 } }, new double[,] { { 0.9, 0.5 }, { 0.9, 0.6 } });
        Assert.False(cd.Classes[0].Significant);
        Assert.True(double.IsNaN(cd.Classes[0].PAdjusted));
        Assert.Equal(TTest.ZeroVarianceDifferentMeans, cd.Classes[0].Undefined);
        Assert.Equal(1, cd.Tested);   // left out of the correction
    }

    [Fact]
    public void ASingleSeedIsAnError()
    {
        var e = Assert.Throws<RepscopeException>(() => TTest.Student(new[] { 0.9 }, new[] { 0.8, 0.7 }));
        Assert.Contains("at least 2", e.Message);
        var e2 = Assert.Throws<RepscopeException>(() =>
            ClassDiff.Compare(new double[,] { { 0.9, 0.8 }, { 0.8, 0.7 } }, new double[,] { { 0.9, 0.8 } }, nameB: "b.npy"));
        Assert.Equal("b.npy: needs at least 2 runs (rows) for a t-test, got 1", e2.Message);
    }

    [Fact]
    public void NaNInSomeRunsIsAnErrorNamingTheFileRowAndClass()
    {
        var a = new double[,] { { 0.9, 0.8 }, { 0.8, double.NaN } };
        var b = new double[,] { { 0.9, 0.8 }, { 0.8, 0.7 } };
        var e = Assert.Throws<RepscopeException>(() => ClassDiff.Compare(a, b, nameA: "a.npy", nameB: "b.npy"));
        Assert.StartsWith("a.npy row 1: class 1 is NaN", e.Message);
        Assert.Throws<RepscopeException>(() => TTest.Student(new[] { 0.9, double.NaN }, new[] { 0.8, 0.7 }));
        Assert.Throws<RepscopeException>(() => TTest.Student(new[] { 0.9, double.PositiveInfinity }, new[] { 0.8, 0.7 }));
        Assert.Throws<RepscopeException>(() => HolmSidak.Adjust(new[] { 0.1, double.NaN }));
    }

    [Fact]
    public void AClassWithNoTestExamplesIsReportedAndExcludedFromTheCorrection()
    {
        var a = new double[,] { { 0.9, double.NaN, 0.5 }, { 0.8, double.NaN, 0.6 }, { 0.85, double.NaN, 0.55 } };
        var b = new double[,] { { 0.7, double.NaN, 0.5 }, { 0.72, double.NaN, 0.7 } };
        var r = ClassDiff.Compare(a, b, names: new[] { "cat", "dog", "frog" });
        Assert.Equal(ClassDiff.NoExamples, r.Classes[1].Undefined);
        Assert.Equal("dog", r.Classes[1].Name);
        Assert.True(double.IsNaN(r.Classes[1].MeanA) && double.IsNaN(r.Classes[1].PAdjusted));
        Assert.Equal(2, r.Tested);
        Assert.Equal(1, r.ByDifference()[^1].Class); // undefined sorts last
        var only = HolmSidak.Adjust(new[] { r.Classes[0].P, r.Classes[2].P });
        Assert.Equal(only.Adjusted, new[] { r.Classes[0].PAdjusted, r.Classes[2].PAdjusted });
    }

    [Fact]
    public void MismatchedClassCountsAndBadAlphaAreErrors()
    {
        var e = Assert.Throws<RepscopeException>(() => ClassDiff.Compare(new double[2, 3], new double[2, 4], nameA: "a.npy", nameB: "b.npy"));
        Assert.Equal("b.npy: has 4 classes (columns), a.npy has 3", e.Message);
        Assert.Throws<RepscopeException>(() => ClassDiff.Compare(new double[2, 3], new double[2, 3], alpha: 1.5));
    }

    [Fact]
    public void TTestIsAntisymmetricAndInvariantToShiftAndScale()
    {
        var rng = new Random(5);
        double[] a = Enumerable.Range(0, 6).Select(_ => rng.NextDouble()).ToArray();
        double[] b = Enumerable.Range(0, 9).Select(_ => rng.NextDouble() + 0.3).ToArray();
        foreach (var kind in new[] { TTestKind.Student, TTestKind.Welch })
        {
            var ab = TTest.Independent(a, b, kind);
            var ba = TTest.Independent(b, a, kind);
            Assert.Equal(ab.T, -ba.T, 12);
            Assert.Equal(ab.P, ba.P, 14);
            var scaled = TTest.Independent(a.Select(x => 3 * x + 7).ToArray(), b.Select(x => 3 * x + 7).ToArray(), kind);
            Assert.Equal(ab.T, scaled.T, 10);
            Assert.Equal(ab.Df, scaled.Df, 10);
        }
        // equal sizes: Student and Welch give the same t
        var s = TTest.Student(a, b[..6]);
        var w = TTest.Welch(a, b[..6]);
        Assert.Equal(s.T, w.T, 12);
    }

    [Fact]
    public void HolmSidakIsMonotoneAtLeastPAndPermutationInvariant()
    {
        var rng = new Random(9);
        double[] p = Enumerable.Range(0, 40).Select(i => i % 7 == 0 ? 0.01 : Math.Pow(rng.NextDouble(), 3)).ToArray();
        var r = HolmSidak.Adjust(p);
        int[] order = Enumerable.Range(0, p.Length).OrderBy(i => p[i]).ToArray();
        for (int k = 1; k < order.Length; k++) { Assert.True(r.Adjusted[order[k]] >= r.Adjusted[order[k - 1]]); }
        for (int i = 0; i < p.Length; i++)
        {
            Assert.True(r.Adjusted[i] >= p[i] && r.Adjusted[i] <= 1);
            // a test is rejected exactly when its adjusted p is at most alpha (away from rounding boundaries)
            Assert.Equal(r.Reject[i], r.Adjusted[i] <= 0.05);
        }
        int[] perm = Enumerable.Range(0, p.Length).OrderBy(_ => rng.Next()).ToArray();
        var rp = HolmSidak.Adjust(perm.Select(i => p[i]).ToArray());
        for (int k = 0; k < perm.Length; k++)
        {
            Assert.Equal(r.Adjusted[perm[k]], rp.Adjusted[k]);
            Assert.Equal(r.Reject[perm[k]], rp.Reject[k]);
        }
        // ties: equal p-values get equal adjusted values
        foreach (var g in Enumerable.Range(0, p.Length).GroupBy(i => p[i]))
        {
            Assert.Single(g.Select(i => r.Adjusted[i]).Distinct());
        }
        Assert.Empty(HolmSidak.Adjust(Array.Empty<double>()).Adjusted);
    }
}
