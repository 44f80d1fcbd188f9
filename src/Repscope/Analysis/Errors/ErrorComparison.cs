using System.Text.Json.Serialization;
using Repscope.Analysis.Statistics;

namespace Repscope.Analysis.Errors;

/// <summary>How two sets of runs agree example by example.</summary>
/// <param name="SeedsX">Runs behind the x accuracies; <paramref name="SeedsY"/> likewise.</param>
/// <param name="Correlation">Pearson correlation of the per-example accuracies (NaN when one side is constant).</param>
/// <param name="MeanAbsoluteDifference">Mean over examples of |acc_x - acc_y|.</param>
/// <param name="BothRight">Examples every run of both sides gets right.</param>
/// <param name="BothWrong">Examples every run of both sides gets wrong.</param>
/// <param name="XRightYWrong">Examples every x run gets right and every y run wrong.</param>
/// <param name="YRightXWrong">Examples every y run gets right and every x run wrong.</param>
/// <param name="Mixed">The rest: some run of x or y disagrees with its side.</param>
public sealed record ExampleAgreement(
    string X, string Y, int SeedsX, int SeedsY, double Correlation, double MeanAbsoluteDifference,
    int BothRight, int BothWrong, int XRightYWrong, int YRightXWrong, int Mixed);

/// <summary>One group of runs: paths, architectures (distinct, from run.json), test accuracy of each run and its per-class accuracies.</summary>
public sealed record RunGroup(string Name, IReadOnlyList<string> Runs, IReadOnlyList<string> Architectures, IReadOnlyList<double> Accuracy, double[][] PerClassAccuracy)
{
    public double MeanAccuracy => Accuracy.Average();
}

/// <summary>The test set all compared runs share.</summary>
public sealed record TestSetInfo(string Fingerprint, int Examples, int Classes, IReadOnlyList<string> ClassNames, IReadOnlyList<int> ExamplesPerClass);

/// <summary>
/// Everything <c>repscope errors</c> reports. <see cref="AgainstB"/> uses all runs of both groups;
/// <see cref="AgainstBMatched"/> uses as many runs per side as each control half (the first k of
/// A and of B), so that its spread compares fairly with <see cref="Control"/>'s: fewer runs per
/// side alone make per-example accuracies noisier. Per-example accuracies are in
/// <see cref="PerExampleA"/> etc. (fraction of the group's runs that get each example right); they
/// go to per_example.csv, not into errors.json.
/// </summary>
public sealed record ErrorComparisonResult(
    string Format, TestSetInfo TestSet, TTestKind Test, double Alpha,
    RunGroup A, RunGroup B, RunGroup ControlFirstHalf, RunGroup ControlSecondHalf, string ControlSource,
    ExampleAgreement AgainstB, ExampleAgreement AgainstBMatched, ExampleAgreement Control,
    IReadOnlyList<int> ARightBWrong, IReadOnlyList<int> BRightAWrong,
    ClassDiffResult PerClass, ClassDiffResult? ControlPerClass, string? ControlPerClassUndefined,
    IReadOnlyList<Superclass>? Superclasses, ClassDiffResult? PerSuperclass,
    [property: JsonIgnore] double[] PerExampleA, [property: JsonIgnore] double[] PerExampleB,
    [property: JsonIgnore] double[] PerExampleControlFirst, [property: JsonIgnore] double[] PerExampleControlSecond,
    [property: JsonIgnore] double[] PerExampleAMatched, [property: JsonIgnore] double[] PerExampleBMatched,
    [property: JsonIgnore] long[] Labels)
{
    /// <summary>
    /// Per-class t-tests of the first k runs of A against the first k of B, k = the control halves' size, so that this
    /// comparison and <see cref="ControlPerClass"/> have the same group sizes (and df); null when k &lt; 2.
    /// </summary>
    public ClassDiffResult? PerClassMatched { get; init; }

    /// <summary>Permutation test over the seed labels of A and B on per-example correctness (the paper's Fig. 6 evidence).</summary>
    public PermutationTestResult? PermutationTest { get; init; }

    /// <summary>
    /// The accuracy match: mean test accuracy of A minus that of B over their runs, with a 95 % Welch t interval
    /// (undefined when every run of both groups has the same accuracy). Different errors are only evidence of
    /// different representations when this is small.
    /// </summary>
    public Interval? AccuracyDifference { get; init; }
}

/// <summary>
/// Do two groups of runs (e.g. the seeds of a wide and of a deep network) make the same mistakes?
/// Pure function of the runs' predictions: per-example accuracy per group and its agreement
/// beside a control (the seeds of one architecture split in two halves, which shows how much
/// seeds alone disagree), examples one group gets right consistently and the other wrong, and
/// per-class (and per-superclass) t-tests over seeds with the Holm-Sidak correction.
/// </summary>
public static class ErrorComparison
{
    public const string FormatName = "repscope-errors/1";

    /// <param name="control">Runs of one architecture to split in two halves of k = floor(n/2) runs
    /// each (the first k and the next k, in order; with odd n the last run is left out so that both
    /// halves have equal size); null: group A. The control's halves are also compared class by class
    /// when each has at least 2 runs (a check of the false-positive rate: expect no significant class). The first k runs of
    /// A and of B are compared the same way (<see cref="ErrorComparisonResult.PerClassMatched"/>), so test and control have equal group sizes.</param>
    /// <param name="permutationSeed">Seed of the permutation test when its relabelings are sampled rather than enumerated.</param>
    public static ErrorComparisonResult Compare(IReadOnlyList<RunPredictions> a, IReadOnlyList<RunPredictions> b,
                                      IReadOnlyList<RunPredictions>? control = null, IReadOnlyList<Superclass>? superclasses = null,
                                      double alpha = 0.05, TTestKind test = TTestKind.Student,
                                      string nameA = "A", string nameB = "B", ulong permutationSeed = Intervals.DefaultSeed)
    {
        if (!(alpha > 0 && alpha < 1)) { throw new RepscopeException($"{RepscopeException.Option("alpha")} must be in (0, 1), got {alpha}"); }
        RequireTwo(a, nameA);
        RequireTwo(b, nameB);
        string controlSource = control is null ? $"{nameA} split in halves" : "control split in halves";
        control ??= a;
        RequireTwo(control, "control");
        foreach (var run in a.Where(r => b.Any(o => SamePath(o.Path, r.Path))))
        {
            throw new RepscopeException($"{run.Path}: is in both group {nameA} and group {nameB}");
        }
        var reference = a[0];
        foreach (var run in a.Concat(b).Concat(control)) { CheckSameTestSet(reference, run); }

        int n = reference.Examples, classes = reference.Classes;
        int k = control.Count / 2;
        var half1 = control.Take(k).ToList();
        var half2 = control.Skip(k).Take(k).ToList();
        var matchedA = a.Take(Math.Min(k, a.Count)).ToList();
        var matchedB = b.Take(Math.Min(k, b.Count)).ToList();

        double[] accA = PerExampleAccuracy(a), accB = PerExampleAccuracy(b);
        double[] accC1 = PerExampleAccuracy(half1), accC2 = PerExampleAccuracy(half2);
        double[] accAm = PerExampleAccuracy(matchedA), accBm = PerExampleAccuracy(matchedB);
        var groupA = Group(nameA, a);
        var groupB = Group(nameB, b);
        var groupC1 = Group("control half 1", half1);
        var groupC2 = Group("control half 2", half2);

        var names = reference.ClassNames;
        var perClass = ClassDiff.Compare(Matrix(groupA.PerClassAccuracy), Matrix(groupB.PerClassAccuracy), test, alpha, names, $"group {nameA}", $"group {nameB}");
        ClassDiffResult? controlPerClass = null;
        string? controlUndefined = null;
        if (half1.Count >= 2 && half2.Count >= 2)
        {
            controlPerClass = ClassDiff.Compare(Matrix(groupC1.PerClassAccuracy), Matrix(groupC2.PerClassAccuracy), test, alpha, names, "control half 1", "control half 2");
        }
        else
        {
            controlUndefined = $"the control has {control.Count} runs; a class-by-class test of its halves needs at least 4 (2 per half)";
        }

        ClassDiffResult? perSuperclass = null;
        if (superclasses is not null)
        {
            var superNames = superclasses.Select(s => s.Name).ToList();
            perSuperclass = ClassDiff.Compare(SuperclassAccuracy(a, superclasses), SuperclassAccuracy(b, superclasses), test, alpha,
                                              superNames, $"group {nameA}", $"group {nameB}");
        }

        var perClassCount = new int[classes];
        foreach (long label in reference.Labels) { perClassCount[label]++; }
        var testSet = new TestSetInfo(reference.Fingerprint, n, classes, names, perClassCount);
        var (agreeAB, aRight, bRight) = Agreement(nameA, nameB, a, b, accA, accB);
        var (agreeMatched, _, _) = Agreement($"{nameA} (first {matchedA.Count})", $"{nameB} (first {matchedB.Count})", matchedA, matchedB, accAm, accBm);
        var (agreeControl, _, _) = Agreement("control half 1", "control half 2", half1, half2, accC1, accC2);
        ClassDiffResult? perClassMatched = matchedA.Count >= 2 && matchedB.Count >= 2 && matchedA.Count == matchedB.Count
            ? ClassDiff.Compare(Matrix(Group(nameA, matchedA).PerClassAccuracy), Matrix(Group(nameB, matchedB).PerClassAccuracy), test, alpha, names,
                                $"group {nameA} (first {matchedA.Count})", $"group {nameB} (first {matchedB.Count})")
            : null;
        var permutation = SeedPermutation.PerExampleDifference(a.Select(Correct).ToList(), b.Select(Correct).ToList(), seed: permutationSeed);
        return new ErrorComparisonResult(FormatName, testSet, test, alpha, groupA, groupB, groupC1, groupC2, controlSource,
                               agreeAB, agreeMatched, agreeControl, aRight, bRight, perClass, controlPerClass, controlUndefined,
                               superclasses, perSuperclass, accA, accB, accC1, accC2, accAm, accBm, reference.Labels)
        {
            PerClassMatched = perClassMatched,
            PermutationTest = permutation,
            AccuracyDifference = Intervals.WelchDifference(groupA.Accuracy, groupB.Accuracy),
        };
    }

    /// <summary>Whether the run predicts each test example correctly.</summary>
    public static IReadOnlyList<bool> Correct(RunPredictions run) =>
        Enumerable.Range(0, run.Examples).Select(i => run.Predictions[i] == run.Labels[i]).ToArray();

    /// <summary>Fraction of the runs that predict each example correctly.</summary>
    public static double[] PerExampleAccuracy(IReadOnlyList<RunPredictions> runs)
    {
        int n = runs[0].Examples;
        var correct = new int[n];
        foreach (var run in runs)
        {
            for (int i = 0; i < n; i++) { if (run.Predictions[i] == run.Labels[i]) { correct[i]++; } }
        }
        return correct.Select(c => c / (double)runs.Count).ToArray();
    }

    /// <summary>Accuracy of one run on each class; NaN for a class without test examples.</summary>
    public static double[] PerClassAccuracy(RunPredictions run)
    {
        var total = new int[run.Classes];
        var correct = new int[run.Classes];
        for (int i = 0; i < run.Examples; i++)
        {
            total[run.Labels[i]]++;
            if (run.Predictions[i] == run.Labels[i]) { correct[run.Labels[i]]++; }
        }
        return total.Select((t, c) => t == 0 ? double.NaN : correct[c] / (double)t).ToArray();
    }

    /// <summary>Accuracy of each run on the union of each superclass's classes (rows: runs); NaN when it has no examples.</summary>
    public static double[,] SuperclassAccuracy(IReadOnlyList<RunPredictions> runs, IReadOnlyList<Superclass> superclasses)
    {
        var m = new double[runs.Count, superclasses.Count];
        for (int s = 0; s < superclasses.Count; s++)
        {
            var member = new bool[runs[0].Classes];
            foreach (int c in superclasses[s].Classes) { member[c] = true; }
            for (int r = 0; r < runs.Count; r++)
            {
                var run = runs[r];
                int total = 0, correct = 0;
                for (int i = 0; i < run.Examples; i++)
                {
                    if (!member[run.Labels[i]]) { continue; }
                    total++;
                    if (run.Predictions[i] == run.Labels[i]) { correct++; }
                }
                m[r, s] = total == 0 ? double.NaN : correct / (double)total;
            }
        }
        return m;
    }

    private static RunGroup Group(string name, IReadOnlyList<RunPredictions> runs) =>
        new(name, runs.Select(r => r.Path).ToList(), runs.Select(r => r.Architecture).OfType<string>().Distinct().ToList(),
            runs.Select(r => r.Accuracy).ToList(), runs.Select(PerClassAccuracy).ToArray());

    private static double[,] Matrix(double[][] rows)
    {
        var m = new double[rows.Length, rows[0].Length];
        for (int i = 0; i < rows.Length; i++) { for (int j = 0; j < rows[i].Length; j++) { m[i, j] = rows[i][j]; } }
        return m;
    }

    private static (ExampleAgreement, List<int> xRight, List<int> yRight) Agreement(
        string x, string y, IReadOnlyList<RunPredictions> xs, IReadOnlyList<RunPredictions> ys, double[] accX, double[] accY)
    {
        int bothRight = 0, bothWrong = 0, mixed = 0;
        var xRight = new List<int>();
        var yRight = new List<int>();
        double absDiff = 0;
        for (int i = 0; i < accX.Length; i++)
        {
            absDiff += Math.Abs(accX[i] - accY[i]);
            bool xAll = accX[i] == 1, xNone = accX[i] == 0, yAll = accY[i] == 1, yNone = accY[i] == 0;
            if (xAll && yAll) { bothRight++; }
            else if (xNone && yNone) { bothWrong++; }
            else if (xAll && yNone) { xRight.Add(i); }
            else if (yAll && xNone) { yRight.Add(i); }
            else { mixed++; }
        }
        var agreement = new ExampleAgreement(x, y, xs.Count, ys.Count, Pearson(accX, accY), accX.Length == 0 ? double.NaN : absDiff / accX.Length,
                                             bothRight, bothWrong, xRight.Count, yRight.Count, mixed);
        return (agreement, xRight, yRight);
    }

    /// <summary>Pearson correlation; NaN when either side is constant.</summary>
    public static double Pearson(double[] x, double[] y)
    {
        double mx = TTest.Mean(x), my = TTest.Mean(y);
        double sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double dx = x[i] - mx, dy = y[i] - my;
            sxy += dx * dy; sxx += dx * dx; syy += dy * dy;
        }
        return sxx == 0 || syy == 0 ? double.NaN : sxy / Math.Sqrt(sxx * syy);
    }

    private static void RequireTwo(IReadOnlyList<RunPredictions> runs, string group)
    {
        if (runs.Count < 2)
        {
            string which = runs.Count == 0 ? "no runs" : $"1 run ({runs[0].Path})";
            throw new RepscopeException($"group {group}: {which}; needs at least 2 runs (seeds) per group");
        }
    }

    private static void CheckSameTestSet(RunPredictions reference, RunPredictions run)
    {
        if (ReferenceEquals(reference, run)) { return; }
        if (run.Fingerprint != reference.Fingerprint)
        {
            throw new RepscopeException($"{run.Path}: different test set (fingerprint {run.Fingerprint}, {reference.Path} has {reference.Fingerprint})");
        }
        if (run.Examples != reference.Examples)
        {
            throw new RepscopeException($"{run.Path}: {run.Examples} test examples, {reference.Path} has {reference.Examples} (different test sets)");
        }
        if (run.Classes != reference.Classes || !run.ClassNames.SequenceEqual(reference.ClassNames))
        {
            throw new RepscopeException($"{run.Path}: class names differ from {reference.Path}'s (different test sets)");
        }
        for (int i = 0; i < run.Examples; i++)
        {
            if (run.Labels[i] != reference.Labels[i])
            {
                throw new RepscopeException($"{run.Path}: test label of example {i} is {run.Labels[i]}, {reference.Path} has {reference.Labels[i]} (different test sets or order)");
            }
        }
    }

    private static bool SamePath(string p, string q) =>
        string.Equals(Path.GetFullPath(p).TrimEnd('/'), Path.GetFullPath(q).TrimEnd('/'), StringComparison.Ordinal);
}
