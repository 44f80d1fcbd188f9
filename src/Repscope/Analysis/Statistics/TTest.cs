namespace Repscope.Analysis.Statistics;

/// <summary>Which two-sample t-test: pooled variance (Student, scipy's ttest_ind default) or Welch's.</summary>
public enum TTestKind { Student, Welch }

/// <summary>
/// The result of a two-sided two-sample t-test of mean(A) = mean(B). <see cref="T"/> is positive
/// when A's mean is larger. When both groups have zero variance the test is undefined: T and P are
/// NaN and <see cref="Undefined"/> says why (equal means: t = 0/0; different means: the standard
/// error is 0, so the t statistic carries no information about chance; scipy returns p = 0 there,
/// Repscope does not, since with a few seeds identical values are a matter of resolution, not certainty).
/// </summary>
public sealed record TTestResult(
    TTestKind Kind, int CountA, int CountB, double MeanA, double MeanB, double VarianceA, double VarianceB,
    double T, double Df, double P, string? Undefined)
{
    public double Difference => MeanA - MeanB;
    public bool IsDefined => Undefined is null;
    /// <summary>A caveat on a result, or null (no test at present sets one; kept for the readers of older files).</summary>
    public string? Note { get; init; }
}

/// <summary>
/// Two-sample t-tests on plain arrays, agreeing with scipy.stats.ttest_ind (two-sided) to 1e-10
/// relative, including p-values far in the tail (see <see cref="StudentT"/>).
/// </summary>
public static class TTest
{
    public const string ZeroVarianceEqualMeans = "zero variance in both groups and equal means: t = 0/0";
    public const string ZeroVarianceDifferentMeans =
        "zero variance in both groups and different means: the standard error is 0, so no p-value (scipy's p = 0 would claim certainty; with few runs per group, identical values can be chance)";

    /// <summary>Student's two-sample t-test with pooled variance, df = nA + nB - 2.</summary>
    public static TTestResult Student(ReadOnlySpan<double> a, ReadOnlySpan<double> b) => Independent(a, b, TTestKind.Student);

    /// <summary>Welch's t-test (unequal variances), Welch-Satterthwaite df.</summary>
    public static TTestResult Welch(ReadOnlySpan<double> a, ReadOnlySpan<double> b) => Independent(a, b, TTestKind.Welch);

    /// <summary>
    /// Two-sided two-sample t-test. Needs at least 2 values per group and no NaN or infinity
    /// (<see cref="RepscopeException"/> otherwise, naming the group as "A" or "B"; pass other names
    /// through <paramref name="nameA"/> / <paramref name="nameB"/>).
    /// </summary>
    public static TTestResult Independent(ReadOnlySpan<double> a, ReadOnlySpan<double> b, TTestKind kind,
                                          string nameA = "group A", string nameB = "group B")
    {
        Check(a, nameA);
        Check(b, nameB);
        int na = a.Length, nb = b.Length;
        double meanA = Mean(a), meanB = Mean(b);
        double varA = Variance(a, meanA), varB = Variance(b, meanB);
        double diff = meanA - meanB;
        double df, denominator;
        if (kind == TTestKind.Student)
        {
            df = na + nb - 2;
            double pooled = ((na - 1) * varA + (nb - 1) * varB) / df;
            denominator = Math.Sqrt(pooled * (1.0 / na + 1.0 / nb));
        }
        else
        {
            double va = varA / na, vb = varB / nb;
            df = (va + vb) * (va + vb) / (va * va / (na - 1) + vb * vb / (nb - 1));
            denominator = Math.Sqrt(va + vb);
        }
        if (denominator == 0)
        {
            // Both groups constant: undefined, never p = 0 (scipy gives t = +/-inf, p = 0 for different means).
            return new TTestResult(kind, na, nb, meanA, meanB, varA, varB, double.NaN,
                                   kind == TTestKind.Student ? df : double.NaN, double.NaN,
                                   diff == 0 ? ZeroVarianceEqualMeans : ZeroVarianceDifferentMeans);
        }
        double t = diff / denominator;
        return new TTestResult(kind, na, nb, meanA, meanB, varA, varB, t, df, StudentT.TwoSidedP(t, df), null);
    }

    private static void Check(ReadOnlySpan<double> values, string name)
    {
        if (values.Length < 2)
        {
            throw new RepscopeException($"{name}: a t-test needs at least 2 values per group (e.g. 2 seeds), got {values.Length}");
        }
        for (int i = 0; i < values.Length; i++)
        {
            if (!double.IsFinite(values[i]))
            {
                throw new RepscopeException($"{name}: value {i} is {values[i]}; a t-test needs finite values");
            }
        }
    }

    /// <summary>Arithmetic mean (sum / n, as numpy for short arrays).</summary>
    public static double Mean(ReadOnlySpan<double> values)
    {
        double sum = 0;
        foreach (double v in values) { sum += v; }
        return sum / values.Length;
    }

    /// <summary>Unbiased sample variance (ddof = 1), two-pass around the given mean.</summary>
    public static double Variance(ReadOnlySpan<double> values, double mean)
    {
        double ss = 0;
        foreach (double v in values) { double d = v - mean; ss += d * d; }
        return ss / (values.Length - 1);
    }
}
