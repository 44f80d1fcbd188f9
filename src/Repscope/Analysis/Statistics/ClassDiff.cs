namespace Repscope.Analysis.Statistics;

/// <summary>
/// One class (or superclass) compared between two groups of runs: the mean per-class accuracy of
/// each group over its runs, the difference A - B, the two-sided t-test over runs and the
/// Holm-Sidak adjusted p-value. Undefined tests (a class without test examples; zero variance in
/// both groups, whatever the means) have NaN t / p / adjusted p, <see cref="Significant"/> false,
/// <see cref="Undefined"/> saying why, and are left out of the correction. <see cref="Note"/>
/// carries a caveat from the t-test, if any.
/// </summary>
public sealed record ClassDifference(
    int Class, string Name, double MeanA, double MeanB, double Difference, double T, double Df, double P,
    double PAdjusted, bool Significant, string? Undefined, string? Note = null);

/// <summary>All classes, in class order, with how many entered the correction.</summary>
public sealed record ClassDiffResult(TTestKind Test, double Alpha, int Tested, int SignificantCount, IReadOnlyList<ClassDifference> Classes)
{
    /// <summary>Classes sorted by difference A - B, largest first; undefined ones last.</summary>
    public IReadOnlyList<ClassDifference> ByDifference() =>
        Classes.OrderBy(c => double.IsNaN(c.Difference) ? 1 : 0).ThenByDescending(c => c.Difference).ThenBy(c => c.Class).ToList();
}

/// <summary>
/// The statistical core of <c>repscope classdiff</c> and <c>repscope errors</c>: per-column
/// two-sample t-tests between two matrices of per-class accuracies (rows: runs / seeds, columns:
/// classes) and the Holm-Sidak correction over the columns whose test is defined.
/// </summary>
public static class ClassDiff
{
    public const string NoExamples = "no test examples: accuracy undefined (NaN) in every run";

    /// <param name="a">Group A, [runs, classes]; at least 2 rows.</param>
    /// <param name="b">Group B, [runs, classes]; at least 2 rows, same column count.</param>
    /// <param name="names">Column names (default: the class index).</param>
    /// <param name="nameA">How group A is named in error messages (e.g. its file name).</param>
    public static ClassDiffResult Compare(double[,] a, double[,] b, TTestKind test = TTestKind.Student, double alpha = 0.05,
                                          IReadOnlyList<string>? names = null, string nameA = "group A", string nameB = "group B")
    {
        if (!(alpha > 0 && alpha < 1)) { throw new RepscopeException($"{RepscopeException.Option("alpha")} must be in (0, 1), got {alpha}"); }
        int ra = a.GetLength(0), rb = b.GetLength(0), columns = a.GetLength(1);
        if (b.GetLength(1) != columns)
        {
            throw new RepscopeException($"{nameB}: has {b.GetLength(1)} classes (columns), {nameA} has {columns}");
        }
        if (ra < 2) { throw new RepscopeException($"{nameA}: needs at least 2 runs (rows) for a t-test, got {ra}"); }
        if (rb < 2) { throw new RepscopeException($"{nameB}: needs at least 2 runs (rows) for a t-test, got {rb}"); }
        if (names is not null && names.Count != columns)
        {
            throw new ArgumentException($"{names.Count} names for {columns} columns", nameof(names));
        }

        var tests = new TTestResult?[columns];
        var undefined = new string?[columns];
        for (int j = 0; j < columns; j++)
        {
            string label = names is null ? $"class {j}" : $"class {j} ('{names[j]}')";
            double[] colA = Column(a, j), colB = Column(b, j);
            int nanA = colA.Count(double.IsNaN), nanB = colB.Count(double.IsNaN);
            if (nanA == ra && nanB == rb) { undefined[j] = NoExamples; continue; }
            if (nanA > 0 || nanB > 0)
            {
                string where = nanA > 0 ? $"{nameA} row {Array.FindIndex(colA, double.IsNaN)}" : $"{nameB} row {Array.FindIndex(colB, double.IsNaN)}";
                throw new RepscopeException($"{where}: {label} is NaN there but not in every run (a class without examples must be NaN in all runs of both groups)");
            }
            var t = TTest.Independent(colA, colB, test, $"{nameA} {label}", $"{nameB} {label}");
            tests[j] = t;
            undefined[j] = t.Undefined;
        }

        int[] defined = Enumerable.Range(0, columns).Where(j => undefined[j] is null).ToArray();
        var correction = HolmSidak.Adjust(defined.Select(j => tests[j]!.P).ToArray(), alpha);
        var adjusted = Enumerable.Repeat(double.NaN, columns).ToArray();
        var significant = new bool[columns];
        for (int k = 0; k < defined.Length; k++)
        {
            adjusted[defined[k]] = correction.Adjusted[k];
            significant[defined[k]] = correction.Reject[k];
        }

        var classes = new ClassDifference[columns];
        for (int j = 0; j < columns; j++)
        {
            string name = names?[j] ?? j.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var t = tests[j];
            classes[j] = t is null
                ? new ClassDifference(j, name, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, false, undefined[j])
                : new ClassDifference(j, name, t.MeanA, t.MeanB, t.Difference, t.T, t.Df, t.P, adjusted[j], significant[j], t.Undefined, t.Note);
        }
        return new ClassDiffResult(test, alpha, defined.Length, significant.Count(s => s), classes);
    }

    private static double[] Column(double[,] m, int j)
    {
        var c = new double[m.GetLength(0)];
        for (int i = 0; i < c.Length; i++) { c[i] = m[i, j]; }
        return c;
    }
}
