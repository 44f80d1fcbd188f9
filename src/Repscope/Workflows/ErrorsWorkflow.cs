using Repscope.Analysis.Errors;
using Repscope.Analysis.Statistics;
using Repscope.Reporting;

namespace Repscope.Workflows;

/// <summary>Options of <c>repscope errors</c>: run patterns (see <see cref="RunGlob"/>) per group.</summary>
public sealed record ErrorOptions(string A, string B, string OutDir)
{
    public string? Control { get; init; }
    public string? HierarchyPath { get; init; }
    public double Alpha { get; init; } = 0.05;
    public TTestKind Test { get; init; } = TTestKind.Student;
}

/// <summary>Front door of the error comparison: expand patterns, read runs, compare, write DIR.</summary>
public static class ErrorsWorkflow
{
    public static (ErrorReport Report, IReadOnlyList<string> Files) Run(ErrorOptions options, IProgressReporter? progress = null)
    {
        progress ??= ProgressReporter.None;
        var dirsA = Match(options.A, "-a");
        var dirsB = Match(options.B, "-b");
        var dirsC = options.Control is null ? null : Match(options.Control, "--control");
        var all = dirsA.Concat(dirsB).Concat(dirsC ?? []).Distinct().ToList();
        var loaded = new Dictionary<string, RunPredictions>();
        using (var task = progress.Start("reading runs", all.Count))
        {
            foreach (string dir in all)
            {
                loaded[dir] = RunPredictions.Read(dir);
                task.Advance(1);
            }
            task.Complete($"{all.Count} runs");
        }
        var a = dirsA.Select(d => loaded[d]).ToList();
        var b = dirsB.Select(d => loaded[d]).ToList();
        var control = dirsC?.Select(d => loaded[d]).ToList();
        var superclasses = options.HierarchyPath is null ? null : Hierarchy.Read(options.HierarchyPath, a[0].ClassNames);
        var report = ErrorComparison.Compare(a, b, control, superclasses, options.Alpha, options.Test);
        using var write = progress.Start("writing report", 1);
        var files = ErrorReportWriter.Write(report, options.OutDir);
        write.Complete(options.OutDir);
        return (report, files);
    }

    private static IReadOnlyList<string> Match(string pattern, string option)
    {
        var dirs = RunGlob.Expand(pattern);
        if (dirs.Count == 0) { throw new RepscopeException($"{option} '{pattern}': matches no run directory"); }
        if (dirs.Count < 2)
        {
            throw new RepscopeException($"{option} '{pattern}': matches 1 run ({dirs[0]}); needs at least 2 runs (seeds) per group");
        }
        return dirs;
    }
}
