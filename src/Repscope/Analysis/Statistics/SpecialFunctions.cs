namespace Repscope.Analysis.Statistics;

/// <summary>
/// The special functions behind the t distribution, written for relative accuracy near 1e-15:
/// log-gamma (Stirling series after an upward shift), log-beta without cancellation for large
/// arguments, and the regularized incomplete beta function I_x(a, b) by its continued fraction
/// (DLMF 8.17.22), evaluated for the smaller tail so that tiny values keep full relative precision.
/// </summary>
public static class SpecialFunctions
{
    private const double HalfLogTwoPi = 0.91893853320467274178032973640562; // ln(2 pi) / 2
    private const double StirlingFrom = 10.0;

    /// <summary>
    /// ln(1 + x), accurate for small |x| (.NET's double.LogP1 is log(1 + x) and loses them):
    /// with u = 1 + x rounded, log(u) * x / (u - 1) cancels the rounding of u (Goldberg 1991).
    /// </summary>
    public static double Log1P(double x)
    {
        double u = 1 + x;
        if (u == 1) { return x; }
        if (double.IsInfinity(u) || u <= 0) { return Math.Log(u); }
        return Math.Log(u) * x / (u - 1);
    }

    /// <summary>e^x - 1, accurate for small |x| (Kahan: (u - 1) * x / log(u) with u = e^x rounded).</summary>
    public static double ExpM1(double x)
    {
        double u = Math.Exp(x);
        if (u == 1) { return x; }
        double um1 = u - 1;
        if (um1 == -1) { return -1; }
        if (double.IsInfinity(u)) { return u; }
        return um1 * x / Math.Log(u);
    }

    /// <summary>ln Gamma(x) for x &gt; 0.</summary>
    public static double LogGamma(double x)
    {
        if (double.IsNaN(x) || x <= 0) { return double.NaN; }
        if (double.IsPositiveInfinity(x)) { return double.PositiveInfinity; }
        if (x >= StirlingFrom) { return Stirling(x); }
        // Gamma(x) = Gamma(x + n) / (x (x+1) ... (x+n-1)); the product stays far from overflow.
        double product = 1;
        double z = x;
        while (z < StirlingFrom) { product *= z; z += 1; }
        return Stirling(z) - Math.Log(product);
    }

    /// <summary>ln B(a, b) = ln Gamma(a) + ln Gamma(b) - ln Gamma(a + b), for a, b &gt; 0.</summary>
    public static double LogBeta(double a, double b)
    {
        if (double.IsNaN(a) || double.IsNaN(b) || a <= 0 || b <= 0) { return double.NaN; }
        double p = Math.Min(a, b), q = Math.Max(a, b);
        double ratio = p / (p + q);
        if (p >= StirlingFrom)
        {
            // Both large: the Stirling expansions cancel analytically.
            double corr = StirlingCorrection(p) + StirlingCorrection(q) - StirlingCorrection(p + q);
            return -0.5 * Math.Log(q) + HalfLogTwoPi + corr + (p - 0.5) * Math.Log(ratio) + q * Log1P(-ratio);
        }
        if (q >= StirlingFrom)
        {
            // Only q large: ln Gamma(q) - ln Gamma(p + q) expanded without forming either.
            double corr = StirlingCorrection(q) - StirlingCorrection(p + q);
            return LogGamma(p) + corr + p - p * Math.Log(p + q) + (q - 0.5) * Log1P(-ratio);
        }
        return LogGamma(p) + LogGamma(q) - LogGamma(p + q);
    }

    /// <summary>
    /// The regularized incomplete beta function I_x(a, b) for a, b &gt; 0 and 0 &lt;= x &lt;= 1,
    /// computed from x and y = 1 - x given separately (so that callers who know y exactly do not
    /// lose it to rounding in 1 - x).
    /// </summary>
    public static double RegularizedBeta(double a, double b, double x, double y)
    {
        if (double.IsNaN(a) || double.IsNaN(b) || double.IsNaN(x) || double.IsNaN(y) || a <= 0 || b <= 0 || x < 0 || y < 0)
        {
            return double.NaN;
        }
        return RegularizedBeta(a, b, x, y, Math.Log(x), Math.Log(y));
    }

    /// <summary>
    /// I_x(a, b) given also ln x and ln y, for callers whose x underflows although x^a does not
    /// (the t distribution at |t| &gt; 1e154).
    /// </summary>
    internal static double RegularizedBeta(double a, double b, double x, double y, double logX, double logY)
    {
        if (double.IsNegativeInfinity(logX)) { return 0; }
        if (double.IsNegativeInfinity(logY)) { return 1; }
        // The continued fraction converges quickly for x below the mean a / (a + b) (roughly);
        // above it, use the symmetry I_x(a, b) = 1 - I_y(b, a).
        return x <= (a + 1) / (a + b + 2) ? Lower(a, b, x, logX, logY) : 1 - Lower(b, a, y, logY, logX);
    }

    /// <summary>I_x(a, b) = 1 - I_y(b, a): the upper tail, computed directly where it is the small one.</summary>
    public static double RegularizedBetaComplement(double a, double b, double x, double y) =>
        RegularizedBeta(b, a, y, x);

    /// <summary>I_x(a, b) for x below the mean: prefactor x^a y^b / (a B(a, b)) times the continued fraction.</summary>
    private static double Lower(double a, double b, double x, double logX, double logY)
    {
        double logPrefactor = a * logX + b * logY - LogBeta(a, b) - Math.Log(a);
        if (logPrefactor < -745.2) { return 0; } // below the smallest subnormal double
        return Math.Exp(logPrefactor) * ContinuedFraction(a, b, x);
    }

    /// <summary>
    /// 1 / (1 + d1 / (1 + d2 / (1 + ...))) with d_{2m+1} = -(a+m)(a+b+m) x / ((a+2m)(a+2m+1)) and
    /// d_{2m} = m (b-m) x / ((a+2m-1)(a+2m)) (DLMF 8.17.22), by the modified Lentz method.
    /// </summary>
    private static double ContinuedFraction(double a, double b, double x)
    {
        const double tiny = 1e-300;
        const double eps = 1e-16;
        double c = 1;
        double d = 1 - (a + b) * x / (a + 1);
        if (Math.Abs(d) < tiny) { d = tiny; }
        d = 1 / d;
        double f = d;
        for (int m = 1; m <= 100_000; m++)
        {
            // even step
            double num = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
            d = 1 + num * d;
            if (Math.Abs(d) < tiny) { d = tiny; }
            c = 1 + num / c;
            if (Math.Abs(c) < tiny) { c = tiny; }
            d = 1 / d;
            f *= d * c;
            // odd step
            num = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
            d = 1 + num * d;
            if (Math.Abs(d) < tiny) { d = tiny; }
            c = 1 + num / c;
            if (Math.Abs(c) < tiny) { c = tiny; }
            d = 1 / d;
            double delta = d * c;
            f *= delta;
            if (Math.Abs(delta - 1) < eps) { return f; }
        }
        throw new InvalidOperationException($"incomplete beta continued fraction did not converge for a={a}, b={b}, x={x}");
    }

    /// <summary>Stirling's series for ln Gamma(x), x &gt;= 10.</summary>
    private static double Stirling(double x) => (x - 0.5) * Math.Log(x) - x + HalfLogTwoPi + StirlingCorrection(x);

    /// <summary>
    /// ln Gamma(x) - [(x - 1/2) ln x - x + ln(2 pi)/2] = sum_k B_2k / (2k (2k-1) x^(2k-1)), x &gt;= 10;
    /// nine terms reach below 1e-19 absolute at x = 10.
    /// </summary>
    private static double StirlingCorrection(double x)
    {
        if (x < StirlingFrom) { throw new ArgumentOutOfRangeException(nameof(x)); }
        double z = 1 / (x * x);
        // B2/(1*2), B4/(3*4), B6/(5*6), ..., B18/(17*18)
        double series = 1.0 / 12 + z * (-1.0 / 360 + z * (1.0 / 1260 + z * (-1.0 / 1680 + z * (1.0 / 1188
                        + z * (-691.0 / 360360 + z * (1.0 / 156 + z * (-3617.0 / 122400 + z * (43867.0 / 244188))))))));
        return series / x;
    }
}
