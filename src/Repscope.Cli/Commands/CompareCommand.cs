using System.ComponentModel;
using Repscope.Analysis;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

public sealed class CompareCommand(Terminal terminal) : Command<CompareCommand.Settings>
{
    public sealed class Settings : StreamSettings
    {
        [CommandArgument(0, "<RUNS>")]
        [Description("Two or more run directories or ONNX models (MODEL.onnx, fed by --input or --data) on the same examples; every pair is compared.")]
        public string[] Runs { get; init; } = [];

        [CommandOption("-o|--out <DIR>")]
        [Description("Folder for compare_A_vs_B.json / .png.")]
        [DefaultValue("compare")]
        public string Out { get; init; } = "compare";
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var reports = s.Runs.Any(ActivationSources.IsOnnx)
            ? CompareSources(s)
            : terminal.WithProgress(p => RunAnalyses.Compare(s.Runs, s.Out, s.Stream(), p));
        foreach (var r in reports)
        {
            foreach (var w in r.Warnings) { terminal.Warn(w); }
            terminal.WriteLine($"{r.RunA} ({r.ArchitectureA}) vs {r.RunB} ({r.ArchitectureB}): {r.RowLayers.Count} x {r.ColumnLayers.Count} layers on {r.Examples} examples in {r.Seconds:F1}s");
        }
        terminal.WriteLine($"wrote {reports.Count} map(s) into {s.Out}");
        return 0;
    }

    private IReadOnlyList<CompareReport> CompareSources(Settings s)
    {
        if (s.Runs.Length < 2) { throw new RepscopeException("compare needs at least two runs or models"); }
        var inputs = s.OnnxInputs(s.Examples);
        return terminal.WithProgress(p =>
        {
            var sources = new List<IActivationSource>();
            try
            {
                foreach (var path in s.Runs) { sources.Add(ActivationSources.Open(path, s.Stream(), inputs, s.TapList, p)); }
                return SourceAnalyses.Compare(sources, s.Out, s.Stream(), p);
            }
            finally
            {
                foreach (var source in sources) { source.Dispose(); }
            }
        });
    }
}
