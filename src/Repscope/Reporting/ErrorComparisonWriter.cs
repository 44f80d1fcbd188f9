using System.Globalization;
using System.Text;
using Repscope.Analysis.Statistics;
using Repscope.Analysis.Errors;

namespace Repscope.Reporting;

/// <summary>
/// Writes an <see cref="ErrorComparisonResult"/> into a folder: errors.json (everything but the per-example
/// vectors), per_class.csv (sorted by difference A - B), per_example.csv, run_class_accuracy.csv,
/// superclass.csv (with a hierarchy), control_per_class.csv (when the control has 4+ runs),
/// scatter.png (A vs B beside the control), per_class.png and superclass.png.
/// </summary>
public static class ErrorComparisonWriter
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static IReadOnlyList<string> Write(ErrorComparisonResult result, string outDir)
    {
        Directory.CreateDirectory(outDir);
        var files = new List<string>();
        string F(string name) { string p = Path.Combine(outDir, name); files.Add(p); return p; }

        AtomicFile.WriteJson(F("errors.json"), result);
        AtomicFile.WriteAllText(F("per_class.csv"), ClassTable(result.PerClass, result.TestSet.ExamplesPerClass));
        AtomicFile.WriteAllText(F("per_example.csv"), ExampleTable(result));
        AtomicFile.WriteAllText(F("run_class_accuracy.csv"), RunTable(result));
        if (result.ControlPerClass is { } cpc)
        {
            AtomicFile.WriteAllText(F("control_per_class.csv"), ClassTable(cpc, result.TestSet.ExamplesPerClass));
        }
        if (result.PerSuperclass is { } ps && result.Superclasses is { } supers)
        {
            var counts = supers.Select(s => s.Classes.Sum(c => result.TestSet.ExamplesPerClass[c])).ToList();
            AtomicFile.WriteAllText(F("superclass.csv"), ClassTable(ps, counts));
        }
        ScatterPng(result, F("scatter.png"));
        DifferencePng(result.PerClass, result, F("per_class.png"), "class");
        if (result.PerSuperclass is { } ps2) { DifferencePng(ps2, result, F("superclass.png"), "superclass"); }
        return files;
    }

    /// <summary>The table sorted by difference A - B (largest first; undefined tests last).</summary>
    public static string ClassTable(ClassDiffResult result, IReadOnlyList<int> examples)
    {
        var sb = new StringBuilder("rank,index,name,examples,mean_a,mean_b,difference,t,df,p,p_adjusted,significant,undefined\n");
        int rank = 1;
        foreach (var c in result.ByDifference())
        {
            sb.AppendJoin(',', rank++, c.Class, Csv(c.Name), examples[c.Class], Num(c.MeanA), Num(c.MeanB), Num(c.Difference),
                          Num(c.T), Num(c.Df), Num(c.P), Num(c.PAdjusted), c.Significant ? "true" : "false", Csv(c.Undefined ?? ""));
            sb.Append('\n');
        }
        return sb.ToString();
    }

    private static string ExampleTable(ErrorComparisonResult r)
    {
        var sb = new StringBuilder("example,label,class,accuracy_a,accuracy_b,control_half1,control_half2,agreement\n");
        var aRight = r.ARightBWrong.ToHashSet();
        var bRight = r.BRightAWrong.ToHashSet();
        for (int i = 0; i < r.Labels.Length; i++)
        {
            double a = r.PerExampleA[i], b = r.PerExampleB[i];
            string agreement = aRight.Contains(i) ? "a-right-b-wrong" : bRight.Contains(i) ? "b-right-a-wrong"
                : a == 1 && b == 1 ? "both-right" : a == 0 && b == 0 ? "both-wrong" : "mixed";
            sb.AppendJoin(',', i, r.Labels[i], Csv(r.TestSet.ClassNames[(int)r.Labels[i]]), Num(a), Num(b),
                          Num(r.PerExampleControlFirst[i]), Num(r.PerExampleControlSecond[i]), agreement);
            sb.Append('\n');
        }
        return sb.ToString();
    }

    private static string RunTable(ErrorComparisonResult r)
    {
        var sb = new StringBuilder("group,run,accuracy,");
        sb.AppendJoin(',', r.TestSet.ClassNames.Select(Csv)).Append('\n');
        foreach (var g in new[] { r.A, r.B })
        {
            for (int k = 0; k < g.Runs.Count; k++)
            {
                sb.AppendJoin(',', Csv(g.Name), Csv(g.Runs[k]), Num(g.Accuracy[k]));
                sb.Append(',').AppendJoin(',', g.PerClassAccuracy[k].Select(Num)).Append('\n');
            }
        }
        return sb.ToString();
    }

    private static void ScatterPng(ErrorComparisonResult r, string path)
    {
        // Per-example accuracies lie on a grid of k/n; a small deterministic jitter (less than half
        // a grid step) shows how many examples sit on each point.
        var rng = new Random(0);
        double[] Jitter(double[] v, int seeds) => v.Select(x => x + (rng.NextDouble() - 0.5) * 0.6 / seeds).ToArray();
        ScatterPanel Panel(string title, string x, string y, ExampleAgreement e, double[] accX, double[] accY) => new(
            $"{title}: r = {e.Correlation.ToString("F3", Inv)}, mean |diff| = {e.MeanAbsoluteDifference.ToString("F3", Inv)}",
            $"{x}: fraction of {e.SeedsX} runs right (jittered)", $"{y}: fraction of {e.SeedsY} runs right (jittered)",
            new[] { new Series("examples", Jitter(accX, e.SeedsX), Jitter(accY, e.SeedsY)) { Opacity = 0.25, MarkerSize = 4 } });
        var panels = new[]
        {
            Panel($"{r.A.Name} vs {r.B.Name}, all runs", Label(r.A), Label(r.B), r.AgainstB, r.PerExampleA, r.PerExampleB),
            Panel($"{r.A.Name} vs {r.B.Name}, {r.AgainstBMatched.SeedsX} runs each", Label(r.A), Label(r.B), r.AgainstBMatched, r.PerExampleAMatched, r.PerExampleBMatched),
            Panel($"control: {r.ControlSource}", "half 1", "half 2", r.Control, r.PerExampleControlFirst, r.PerExampleControlSecond),
        };
        Plots.ScatterPanels(path,
            $"Per-example accuracy on {r.TestSet.Examples} test examples; always right in A and always wrong in B: {r.AgainstB.XRightYWrong}, the reverse: {r.AgainstB.YRightXWrong}",
            panels, new PlotOptions { Width = 2100, Height = 760, Diagonal = true, XLimits = (-0.05, 1.05), YLimits = (-0.05, 1.05), Legend = false });
    }

    /// <summary>At most this many bars; with more classes, the ones with the largest |difference| (the rest are in the CSV).</summary>
    public const int MaxBars = 60;

    private static void DifferencePng(ClassDiffResult result, ErrorComparisonResult r, string path, string what)
    {
        var defined = result.Classes.Where(c => !double.IsNaN(c.Difference)).ToList();
        var shown = defined.Count <= MaxBars ? defined
            : defined.OrderByDescending(c => Math.Abs(c.Difference)).ThenBy(c => c.Class).Take(MaxBars).ToList();
        var sorted = shown.OrderByDescending(c => c.Difference).ThenBy(c => c.Class).ToList();
        // error bars: the standard error of the difference, |difference / t|
        double[] se = sorted.Select(c => double.IsFinite(c.T) && c.T != 0 ? Math.Abs(c.Difference / c.T) : 0).ToArray();
        string subset = shown.Count < defined.Count ? $", the {shown.Count} largest |difference| of {defined.Count}" : "";
        Plots.Bars(path,
            $"Per-{what} accuracy difference {Label(r.A)} - {Label(r.B)} ({r.A.Runs.Count} vs {r.B.Runs.Count} runs{subset})",
            $"{what} ({(result.Test == TTestKind.Welch ? "Welch" : "Student")} t-test over runs; Holm-Sidak over {result.Tested} {what}es)",
            $"mean accuracy {r.A.Name} - {r.B.Name} (error bar: standard error)",
            sorted.Select(c => c.Name).ToList(),
            new[] { new BarSeries($"{r.A.Name} - {r.B.Name}", sorted.Select(c => c.Difference).ToArray(), se, sorted.Select(c => c.Significant).ToArray()) },
            new PlotOptions { Width = Math.Clamp(300 + 40 * sorted.Count, 900, 2700), Height = 650, HighlightLabel = $"significant (adjusted p <= {result.Alpha.ToString(Inv)})" });
    }

    /// <summary>"A (ResNet-20 (width 1))" when every run of the group has the same architecture, else "A".</summary>
    private static string Label(RunGroup g) => g.Architectures.Count == 1 ? $"{g.Name} ({g.Architectures[0]})" : g.Name;

    private static string Num(double v) =>
        double.IsNaN(v) ? "" : double.IsPositiveInfinity(v) ? "inf" : double.IsNegativeInfinity(v) ? "-inf" : v.ToString("R", Inv);

    private static string Csv(string s) =>
        s.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
}
