using System.ComponentModel;
using System.Globalization;
using Repscope.Analysis.Errors;
using Repscope.Analysis.Statistics;
using Repscope.Workflows;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

/// <summary>
/// <c>repscope errors -a 'runs/r62w1s*' -b 'runs/r14w2s*' --out DIR</c>: do two groups of runs
/// make the same mistakes, per example and per class, beyond what seeds explain?
/// </summary>
public sealed class ErrorsCommand(Terminal terminal) : Command<ErrorsCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("-a|--group-a <GLOB>")]
        [Description("Run directories of group A (quote the pattern: *, ?, [[...]] in any segment). At least 2.")]
        public string? GroupA { get; init; }

        [CommandOption("-b|--group-b <GLOB>")]
        [Description("(also --b) Run directories of group B. At least 2.")]
        public string? GroupB { get; init; }

        [CommandOption("--control <GLOB>")]
        [Description("Runs of one architecture split in two halves as the seed-to-seed control (default: group A split in halves).")]
        public string? Control { get; init; }

        [CommandOption("--hierarchy <JSON>")]
        [Description("Superclasses: a JSON object (superclass name -> list of class names or indices), or a file holding one; tested like classes.")]
        public string? Hierarchy { get; init; }

        [CommandOption("--alpha <ALPHA>")]
        [Description("Family-wise significance level for the Holm-Sidak correction.")]
        [DefaultValue(0.05)]
        public double Alpha { get; init; } = 0.05;

        [CommandOption("--welch")]
        [Description("Welch's t-test instead of Student's pooled-variance test.")]
        public bool Welch { get; init; }

        [CommandOption("--out <DIR>")]
        [Description("Output folder: errors.json, per_class.csv, per_example.csv, run_class_accuracy.csv, superclass.csv, scatter.png, per_class.png.")]
        public string? Out { get; init; }

        public override Spectre.Console.ValidationResult Validate()
        {
            if (string.IsNullOrEmpty(GroupA)) { return Spectre.Console.ValidationResult.Error("-a/--group-a (group A's runs) is required"); }
            if (string.IsNullOrEmpty(GroupB)) { return Spectre.Console.ValidationResult.Error("-b/--group-b (group B's runs) is required"); }
            if (string.IsNullOrEmpty(Out)) { return Spectre.Console.ValidationResult.Error("--out is required"); }
            return Spectre.Console.ValidationResult.Success();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        OutputPath.CheckFolder(settings.Out!, "--out");
        var options = new ErrorOptions(settings.GroupA!, settings.GroupB!, settings.Out!)
        {
            Control = settings.Control,
            HierarchyPath = settings.Hierarchy,
            Alpha = settings.Alpha,
            Test = settings.Welch ? TTestKind.Welch : TTestKind.Student,
        };
        var (r, files) = terminal.WithProgress(p => ErrorsWorkflow.Run(options, p));
        var inv = CultureInfo.InvariantCulture;
        foreach (var g in new[] { r.A, r.B })
        {
            string arch = g.Architectures.Count == 0 ? "" : $" ({string.Join(", ", g.Architectures)})";
            terminal.WriteLine($"{g.Name}{arch}: {g.Runs.Count} runs, mean test accuracy {g.MeanAccuracy.ToString("F4", inv)}");
        }
        terminal.WriteLine($"{r.TestSet.Examples} test examples, {r.TestSet.Classes} classes");
        foreach (var e in new[] { r.AgainstB, r.AgainstBMatched, r.Control })
        {
            terminal.WriteLine($"{e.X} vs {e.Y}: per-example r = {e.Correlation.ToString("F3", inv)}, mean |diff| = {e.MeanAbsoluteDifference.ToString("F4", inv)}; " +
                              $"always right in {e.X} and always wrong in {e.Y}: {e.XRightYWrong}, the reverse: {e.YRightXWrong}");
        }
        Summary("classes", r.PerClass);
        if (r.ControlPerClass is { } c) { Summary("classes, control halves", c); }
        if (r.PerSuperclass is { } s) { Summary("superclasses", s); }
        terminal.WriteLine($"wrote {string.Join(", ", files.Select(Path.GetFileName))} to {settings.Out}");
        return 0;
    }

    private void Summary(string what, ClassDiffResult result)
    {
        terminal.WriteLine($"{what}: {result.SignificantCount} of {result.Tested} differ significantly (Holm-Sidak, alpha {result.Alpha.ToString(CultureInfo.InvariantCulture)})" +
                          (result.Tested < result.Classes.Count ? $"; {result.Classes.Count - result.Tested} undefined, left out" : ""));
        foreach (var c in result.ByDifference().Where(c => c.Significant))
        {
            terminal.WriteLine($"  {c.Name}: {c.MeanA:F4} vs {c.MeanB:F4} (A - B = {c.Difference:+0.0000;-0.0000}), p adjusted {c.PAdjusted:G3}");
        }
        int constant = result.Classes.Count(c => c.Undefined == TTest.ZeroVarianceDifferentMeans);
        if (constant > 0)
        {
            terminal.Warn($"{what}: {constant} with zero variance in both groups and different means: undefined (no p-value), left out of the correction");
        }
    }
}
