using System.Text.Json;
using Repscope.Analysis.Errors;
using Repscope.Analysis.Statistics;
using Repscope.Reporting;

namespace Repscope.Workflows;

/// <summary>Options of <c>repscope errors</c>: run patterns (see <see cref="RunGlob"/>) per group, each matching at least 2 runs.</summary>
public sealed record ErrorOptions(string GroupA, string GroupB, string OutDir)
{
    public string? Control { get; init; }
    public string? HierarchyPath { get; init; }
    public double Alpha { get; init; } = 0.05;
    public TTestKind Test { get; init; } = TTestKind.Student;
}

/// <summary>Front door of the error comparison: expand patterns, read runs, compare, write DIR.</summary>
public static class ErrorsWorkflow
{
    /// <summary>Compares the groups and writes errors.json, the CSV tables and the figures into <see cref="ErrorOptions.OutDir"/>
    /// (<see cref="ErrorComparisonWriter"/>); a pattern that matches fewer than 2 runs is a RepscopeException naming the parameter.</summary>
    public static Written<ErrorComparisonResult> Run(ErrorOptions options, IProgressReporter? progress = null)
    {
        progress ??= ProgressReporter.None;
        var dirsA = Match(options.GroupA, nameof(ErrorOptions.GroupA));
        var dirsB = Match(options.GroupB, nameof(ErrorOptions.GroupB));
        var dirsC = options.Control is null ? null : Match(options.Control, nameof(ErrorOptions.Control));
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
        var result = ErrorComparison.Compare(a, b, control, superclasses, options.Alpha, options.Test);
        using var write = progress.Start("writing the tables and figures", 1);
        var files = ErrorComparisonWriter.Write(result, options.OutDir);
        write.Complete(options.OutDir);
        return new Written<ErrorComparisonResult>(result, files);
    }

    /// <summary>The run directories <paramref name="pattern"/> matches; <paramref name="parameter"/> (an <see cref="ErrorOptions"/> property) names it in errors.</summary>
    private static IReadOnlyList<string> Match(string pattern, string parameter)
    {
        string option = RepscopeException.Option(JsonNamingPolicy.CamelCase.ConvertName(parameter));
        var dirs = RunGlob.Expand(pattern);
        if (dirs.Count == 0) { throw new RepscopeException($"{option} '{pattern}': matches no run directory"); }
        if (dirs.Count < 2)
        {
            throw new RepscopeException($"{option} '{pattern}': matches 1 run ({dirs[0]}); needs at least 2 runs (seeds) per group");
        }
        return dirs;
    }
}
