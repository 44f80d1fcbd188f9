using System.ComponentModel;
using Repscope.Reporting;
using Repscope.Reproduce;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

/// <summary>
/// <c>repscope reproduce [--quick] [--data NAME[:PATH]] [--out results/]</c>: trains the grid the
/// paper's experiments need (reusing finished runs, resuming partial ones), runs every analysis and
/// writes results/report.html.
/// </summary>
public sealed class ReproduceCommand(Terminal terminal) : Command<ReproduceCommand.Settings>
{
    public const string QuickData = "fashion-mnist-small";
    public const string FullData = "fashion-mnist";

    public sealed class Settings : CommandSettings
    {
        [CommandOption("--quick")]
        [Description("The quick grid: about 10 minutes on 2 idle CPU cores, on the data shipped in the repository (docs/reproduce.md).")]
        public bool Quick { get; init; }

        [CommandOption("--test-every-epoch")]
        [Description("Evaluate every model on the test set after every epoch (a test-accuracy learning curve); default: only after the last epoch. Applies to models trained by this call.")]
        public bool TestEveryEpoch { get; init; }

        [CommandOption("--data <DATA>")]
        [Description("Data set as NAME or NAME:PATH: fashion-mnist-small (shipped), fashion-mnist, mnist, cifar10, cifar100, folder:PATH. Default: " + QuickData + " with --quick, else " + FullData + ".")]
        public string? Data { get; init; }

        [CommandOption("--out <DIR>")]
        [Description("Output folder: report.html, figures/, findings.json, runs/ (a second call reuses what is there).")]
        [DefaultValue("results")]
        public string Out { get; init; } = "results";

        public override Spectre.Console.ValidationResult Validate() =>
            string.IsNullOrWhiteSpace(Out) ? Spectre.Console.ValidationResult.Error("--out must not be empty") : Spectre.Console.ValidationResult.Success();
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken) =>
        Run(settings, LibraryBackend.For(settings.Quick ? GridScale.Quick : GridScale.Full), terminal, cancellationToken);

    /// <summary>The command without the console: maps settings to options, runs, prints the summary; returns the exit code.</summary>
    internal static int Run(Settings settings, IReproduceBackend backend, Terminal terminal, CancellationToken cancel = default)
    {
        var scale = settings.Quick ? GridScale.Quick : GridScale.Full;
        string data = settings.Data ?? (settings.Quick ? QuickData : FullData);
        var plan = ExperimentPlan.For(scale);
        var options = new ReproduceOptions(scale, settings.Out, TrainingSettings.For(plan, data, null, settings.TestEveryEpoch ? true : null), plan);
        ReproduceSummary summary;
        try { summary = terminal.WithProgress(p => new Reproducer(backend).Run(options, p, cancel)); }
        catch (OperationCanceledException)
        {
            throw new RepscopeException("reproduce interrupted; run the same command again: finished runs are reused and the interrupted one resumes from its last epoch");
        }

        terminal.WriteLine($"{summary.Trained} runs trained, {summary.Resumed} resumed, {summary.Reused} reused (finished runs found in {Path.Combine(settings.Out, Reproducer.RunsFolder)}); {ProgressText.Duration(summary.Elapsed)}");
        foreach (var f in summary.Findings)
        {
            terminal.WriteLine($"  {ReportWriter.VerdictText(f.Verdict),-13} {ReportWriter.EffectText(f)}");
            terminal.WriteLine($"  {"",-13} {f.Claim}" + (f.Verdict == Verdict.Inconclusive ? $" ({f.Reason})" : ""));
        }
        terminal.WriteLine($"report: {summary.ReportPath}");
        if (summary.Failures.Count == 0) { return 0; }
        foreach (string f in summary.Failures) { terminal.Warn(f); }
        terminal.Fail($"{summary.Failures.Count} step(s) failed; the report marks what they fed as not run; run again to retry them");
        return ExitCode.UserError;
    }
}
