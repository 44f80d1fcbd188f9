namespace Repscope.Analysis.Statistics;

/// <summary>Adjusted p-values and decisions of a multiple-comparison correction, in input order.</summary>
public sealed record CorrectionResult(double[] Adjusted, bool[] Reject, double Alpha);

/// <summary>
/// Holm-Sidak step-down correction, exactly as statsmodels.stats.multitest.multipletests(p,
/// alpha, method="holm-sidak"): sort p ascending; the i-th smallest (i = 0..m-1) is rejected
/// while p_(i) &lt;= 1 - (1 - alpha)^(1/(m-i)) for it and every smaller one; the adjusted value is
/// 1 - (1 - p_(i))^(m-i) (computed as -expm1((m-i) log1p(-p))), made monotone by a running
/// maximum in sorted order and clipped at 1. Tied p-values get equal adjusted values.
/// </summary>
public static class HolmSidak
{
    public static CorrectionResult Adjust(IReadOnlyList<double> pValues, double alpha = 0.05)
    {
        if (!(alpha > 0 && alpha < 1)) { throw new RepscopeException($"alpha must be in (0, 1), got {alpha}"); }
        int m = pValues.Count;
        for (int i = 0; i < m; i++)
        {
            double p = pValues[i];
            if (double.IsNaN(p) || p < 0 || p > 1)
            {
                throw new RepscopeException($"p-value {i} is {p}; Holm-Sidak needs p-values in [0, 1] (leave undefined tests out)");
            }
        }
        // Stable sort by p: ties get equal adjusted values whatever their order, so stability
        // only makes the result independent of the sort algorithm.
        int[] order = Enumerable.Range(0, m).OrderBy(i => pValues[i]).ToArray();
        var adjusted = new double[m];
        var reject = new bool[m];
        bool stillRejecting = true;
        double runningMax = 0;
        for (int rank = 0; rank < m; rank++)
        {
            double p = pValues[order[rank]];
            int remaining = m - rank;
            double threshold = 1 - Math.Pow(1 - alpha, 1.0 / remaining);
            stillRejecting &= p <= threshold;
            reject[order[rank]] = stillRejecting;
            double raw = -SpecialFunctions.ExpM1(remaining * SpecialFunctions.Log1P(-p)); // -expm1(remaining * log1p(-p))
            runningMax = Math.Max(runningMax, raw);
            adjusted[order[rank]] = Math.Min(runningMax, 1);
        }
        return new CorrectionResult(adjusted, reject, alpha);
    }
}
