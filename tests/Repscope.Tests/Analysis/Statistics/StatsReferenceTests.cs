using System.Text.Json;
using Repscope.Analysis.Statistics;
using Xunit.Abstractions;

namespace Repscope.Tests.Analysis.Statistics;

/// <summary>
/// Agreement with scipy 1.10 / statsmodels 0.13 (and mpmath at 50 digits) on the values in
/// tests/fixtures/stats_reference.json, written by tests/fixtures/make_stats_reference.py.
/// </summary>
public class StatsReferenceTests(ITestOutputHelper output)
{
    private const double Rel = 1e-10;
    private static readonly JsonElement Reference = ReferenceFiles.Load("stats_reference.json");

    private static double Num(JsonElement e) => e.ValueKind == JsonValueKind.String
        ? e.GetString() switch { "nan" => double.NaN, "inf" => double.PositiveInfinity, "-inf" => double.NegativeInfinity, var s => throw new FormatException(s) }
        : e.GetDouble();

    /// <summary>Relative agreement; exact zeros must be exact; values below 1e-300 may differ by 1e-310 (subnormals).</summary>
    internal static void Close(double expected, double actual, string what, double rel = Rel)
    {
        if (double.IsNaN(expected)) { Assert.True(double.IsNaN(actual), $"{what}: expected NaN, got {actual}"); return; }
        if (double.IsInfinity(expected)) { Assert.True(expected == actual, $"{what}: expected {expected}, got {actual}"); return; }
        double tolerance = Math.Max(rel * Math.Abs(expected), 1e-310);
        Assert.True(Math.Abs(expected - actual) <= tolerance,
            $"{what}: expected {expected:R}, got {actual:R} (relative difference {Math.Abs(expected - actual) / Math.Abs(expected):g3})");
    }

    [Fact]
    public void StudentTSurvivalAndCdfMatchScipyAndMpmathIncludingTheFarTail()
    {
        int count = 0, tail = 0;
        double worst = 0;
        foreach (var d in Reference.GetProperty("t_distribution").EnumerateArray())
        {
            double t = d.GetProperty("t").GetDouble(), df = d.GetProperty("df").GetDouble();
            double exact = d.GetProperty("sf_mpmath").GetDouble(), exactCdf = d.GetProperty("cdf_mpmath").GetDouble();
            double sf = StudentT.Sf(t, df), cdf = StudentT.Cdf(t, df);
            string what = $"t={t}, df={df}";
            Close(exact, sf, $"sf {what} vs mpmath");
            Close(exactCdf, cdf, $"cdf {what} vs mpmath");
            if (d.GetProperty("scipy_accurate").GetBoolean())
            {
                Close(d.GetProperty("sf").GetDouble(), sf, $"sf {what} vs scipy");
                Close(d.GetProperty("cdf").GetDouble(), cdf, $"cdf {what} vs scipy");
            }
            if (exact > 0 && exact < 1e-50) { tail++; }
            if (exact > 0) { worst = Math.Max(worst, Math.Abs(sf - exact) / exact); }
            count++;
        }
        output.WriteLine($"largest relative error of sf against mpmath over {count} points: {worst:g3}");
        Assert.Equal(549, count);
        Assert.True(tail >= 15, $"only {tail} far-tail values");
    }

    [Fact]
    public void FarTailDoesNotUnderflowWhereScipyDoes()
    {
        // t = 1e300, df = 1: P(T > t) = atan(1/t)/pi ~ 1/(pi t) = 3.1831e-301; scipy 1.10 gives 0.
        Close(1 / (Math.PI * 1e300), StudentT.Sf(1e300, 1), "sf(1e300, 1)", 1e-13);
        // t = 40, df = 8, two-sided
        Close(1.6785718879145774e-10, StudentT.TwoSidedP(40, 8), "p(40, 8)"); // scipy 1.10: 2 * stats.t.sf(40, 8)
        Assert.True(StudentT.Sf(1e308, 1) > 0);
    }

    [Fact]
    public void CauchyClosedFormAgrees()
    {
        // df = 1 is the Cauchy distribution: sf(t) = 1/2 - atan(t)/pi; for t > 1 the tail is atan(1/t)/pi.
        foreach (double t in new[] { 0.0, 0.3, 1.0, 7.0, 1e3, 1e8 })
        {
            double expected = t > 1 ? Math.Atan(1 / t) / Math.PI : 0.5 - Math.Atan(t) / Math.PI;
            Close(expected, StudentT.Sf(t, 1), $"Cauchy sf({t})", 1e-13);
        }
        // df = 2: sf(t) = (1 - t / sqrt(t^2 + 2)) / 2 = 1 / (sqrt(t^2+2) (sqrt(t^2+2) + t))
        foreach (double t in new[] { 0.5, 2.0, 30.0, 1e6 })
        {
            double s = Math.Sqrt(t * t + 2);
            Close(1 / (s * (s + t)), StudentT.Sf(t, 2), $"df=2 sf({t})", 1e-13);
        }
    }

    [Fact]
    public void TTestsMatchScipyTtestInd()
    {
        int count = 0;
        foreach (var c in Reference.GetProperty("ttest_ind").EnumerateArray())
        {
            string name = c.GetProperty("name").GetString()!;
            double[] a = c.GetProperty("a").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            double[] b = c.GetProperty("b").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            foreach (var (kind, key) in new[] { (TTestKind.Student, "student"), (TTestKind.Welch, "welch") })
            {
                var expected = c.GetProperty(key);
                var r = TTest.Independent(a, b, kind);
                if (name == "both-constant-different")
                {
                    // A deliberate departure from scipy (t = +/-inf, p = 0): undefined, no p-value.
                    Assert.Equal(0, Num(expected.GetProperty("p")));
                    Assert.True(double.IsNaN(r.P) && double.IsNaN(r.T));
                    Assert.Equal(TTest.ZeroVarianceDifferentMeans, r.Undefined);
                    continue;
                }
                double t = Num(expected.GetProperty("t")), p = Num(expected.GetProperty("p")), df = Num(expected.GetProperty("df"));
                if (Math.Abs(t) < 1e-6)
                {
                    // rounding noise around 0 (equal means): absolute agreement
                    Assert.True(Math.Abs(t - r.T) < 1e-12, $"{name} {key}: t {r.T} vs {t}");
                }
                else { Close(t, r.T, $"{name} {key} t"); }
                Close(p, r.P, $"{name} {key} p");
                Close(df, r.Df, $"{name} {key} df");
                Assert.Equal(double.IsNaN(t), r.Undefined is not null);
            }
            count++;
        }
        Assert.Equal(18, count);
    }

    [Fact]
    public void HolmSidakMatchesStatsmodels()
    {
        int count = 0;
        foreach (var c in Reference.GetProperty("holm_sidak").EnumerateArray())
        {
            string name = c.GetProperty("name").GetString()!;
            double alpha = c.GetProperty("alpha").GetDouble();
            double[] p = c.GetProperty("p").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            double[] adjusted = c.GetProperty("adjusted").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            bool[] reject = c.GetProperty("reject").EnumerateArray().Select(e => e.GetBoolean()).ToArray();
            var r = HolmSidak.Adjust(p, alpha);
            for (int i = 0; i < p.Length; i++) { Close(adjusted[i], r.Adjusted[i], $"{name}[{i}] adjusted"); }
            Assert.Equal(reject, r.Reject);
            count++;
        }
        Assert.Equal(13, count);
    }
}
