namespace Repscope.Analysis.Statistics;

/// <summary>
/// Student's t distribution with <c>df</c> degrees of freedom (df &gt; 0, not necessarily an
/// integer). Tails are computed directly from the incomplete beta function,
/// P(T &gt; t) = I_x(df/2, 1/2) / 2 with x = df / (df + t^2), never as 1 - CDF, so that a tail
/// probability keeps its relative precision down to the smallest double (e.g. t = 1e300, df = 1
/// gives 3.18e-301, where scipy 1.10 returns 0).
/// </summary>
public static class StudentT
{
    /// <summary>P(T &gt; t), the survival function. NaN for NaN t or a df that is not finite and positive.</summary>
    public static double Sf(double t, double df)
    {
        if (double.IsNaN(t) || !double.IsFinite(df) || df <= 0) { return double.NaN; }
        if (double.IsPositiveInfinity(t)) { return 0; }
        if (double.IsNegativeInfinity(t)) { return 1; }
        double tail = TwoSidedP(t, df) / 2; // P(T > |t|)
        return t >= 0 ? tail : 1 - tail;
    }

    /// <summary>P(T &lt;= t), the cumulative distribution function.</summary>
    public static double Cdf(double t, double df) => Sf(-t, df);

    /// <summary>P(|T| &gt;= |t|), the two-sided p-value of a t statistic.</summary>
    public static double TwoSidedP(double t, double df)
    {
        if (double.IsNaN(t) || !double.IsFinite(df) || df <= 0) { return double.NaN; }
        if (double.IsInfinity(t)) { return 0; }
        double t2 = t * t;
        double x, y, logX, logY;
        if (t2 > 1e300)
        {
            // |t| so large that t^2 overflows or df + t^2 loses df: work in logs of df / t^2.
            double r = df / Math.Abs(t) / Math.Abs(t);
            x = r / (1 + r);
            y = 1 / (1 + r);
            logX = Math.Log(df) - 2 * Math.Log(Math.Abs(t)) - SpecialFunctions.Log1P(r);
            logY = -SpecialFunctions.Log1P(r);
        }
        else
        {
            x = df / (df + t2);
            y = t2 / (df + t2);
            // ln x = -ln(1 + t^2/df) without rounding x first: the prefactor raises x to df/2,
            // which would multiply x's rounding error by df/2 (1e-11 relative at df = 1e5).
            double r = t2 / df;
            logX = -SpecialFunctions.Log1P(r);
            logY = Math.Log(r) + logX;
        }
        return SpecialFunctions.RegularizedBeta(df / 2, 0.5, x, y, logX, logY);
    }
    /// <summary>
    /// The quantile function (inverse CDF, scipy's t.ppf): the t with P(T &lt;= t) = p, for p in (0, 1).
    /// Found by bracketing and bisection on <see cref="Cdf"/> to the last bit of the double (monotone, so exact
    /// to the precision of the CDF). NaN for p outside (0, 1) or a df that is not finite and positive.
    /// </summary>
    public static double Quantile(double p, double df)
    {
        if (!(p > 0 && p < 1) || !double.IsFinite(df) || df <= 0) { return double.NaN; }
        if (p == 0.5) { return 0; }
        // By symmetry, |t| solves Sf(|t|) = the smaller tail; passing p itself below 1/2 (not 1 - (1 - p)) keeps
        // its relative precision, and Sf keeps its own far in the tail.
        return p < 0.5 ? -UpperTail(p, df) : UpperTail(1 - p, df);
    }

    private static double UpperTail(double tail, double df)
    {
        double lo = 0, hi = 1;
        while (Sf(hi, df) > tail) { lo = hi; hi *= 2; if (double.IsInfinity(hi)) { return double.PositiveInfinity; } }
        for (int i = 0; i < 2000; i++)
        {
            double mid = lo + (hi - lo) / 2;
            if (mid <= lo || mid >= hi) { break; }
            if (Sf(mid, df) > tail) { lo = mid; } else { hi = mid; }
        }
        return lo + (hi - lo) / 2;
    }
}
