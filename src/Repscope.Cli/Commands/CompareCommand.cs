using System.ComponentModel;
using Repscope.Models;
using Repscope.Similarity;
using Repscope.Workflows;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

public sealed class CompareCommand(Terminal terminal) : Command<CompareCommand.Settings>
{
    public sealed class Settings : StreamSettings, IMeasureSettings
    {
        [CommandArgument(0, "<RUNS>")]
        [Description("Two or more run directories or ONNX models (MODEL.onnx, fed by --input or --data) on the same examples; every pair is compared.")]
        public string[] Runs { get; init; } = [];

        [CommandOption("-o|--out <DIR>")]
        [Description("Folder for compare_A_vs_B.json / .png.")]
        [DefaultValue("compare")]
        public string Out { get; init; } = "compare";

        [CommandOption("--measure <MEASURE>")]
        [Description(MeasureSettingsExtensions.MeasureHelp + " PWCCA: the weights come from the first model's (row) layer.")]
        [DefaultValue(SimilarityMeasure.Cka)]
        public SimilarityMeasure Measure { get; init; } = SimilarityMeasure.Cka;

        [CommandOption("--svcca-variance <F>")]
        [Description(MeasureSettingsExtensions.SvccaHelp)]
        [DefaultValue(MeasureOptions.DefaultSvccaVarianceKept)]
        public double SvccaVariance { get; init; } = MeasureOptions.DefaultSvccaVarianceKept;
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        OutputPath.CheckFolder(s.Out, "--out");
        if (s.Measure != SimilarityMeasure.Cka) { return WholeData(s, s.Options()); }
        var written = s.Runs.Any(ActivationSources.IsOnnx)
            ? CompareSources(s)
            : terminal.WithProgress(p => CompareWorkflow.Run(s.Runs, s.Out, s.Stream(), p));
        foreach (var r in written.Select(w => w.Result))
        {
            foreach (var w in r.Warnings) { terminal.Warn(w); }
            terminal.WriteLine($"{r.RunA} ({r.ArchitectureA}) vs {r.RunB} ({r.ArchitectureB}): {r.RowLayers.Count} x {r.ColumnLayers.Count} layers on {r.Examples} examples in {r.Seconds:F1}s");
        }
        terminal.WriteLine($"wrote {written.Count} map(s) into {s.Out}");
        return 0;
    }

    private int WholeData(Settings s, MeasureOptions options)
    {
        var written = s.Runs.Any(ActivationSources.IsOnnx)
            ? CompareSources(s, (sources, p) => CompareWorkflow.Run(sources, s.Out, s.Stream(), s.Measure, options, p))
            : terminal.WithProgress(p => CompareWorkflow.Run(s.Runs, s.Out, s.Stream(), s.Measure, options, p));
        foreach (var r in written.Select(w => w.Result))
        {
            terminal.WriteLine($"{r.RunA} ({r.ArchitectureA}) vs {r.RunB} ({r.ArchitectureB}): {r.Measure.Description}, {r.RowLayers.Count} x {r.ColumnLayers.Count} layers on {r.Examples} examples (whole data) in {r.Seconds:F1}s");
            foreach (string reason in r.Undefined) { terminal.Warn(reason); }
        }
        terminal.WriteLine($"wrote {written.Count} map(s) into {s.Out}");
        return 0;
    }

    private IReadOnlyList<Written<CompareResult>> CompareSources(Settings s) =>
        CompareSources(s, (sources, p) => CompareWorkflow.Run(sources, s.Out, s.Stream(), p));

    private IReadOnlyList<Written<T>> CompareSources<T>(Settings s, Func<IReadOnlyList<IActivationSource>, IProgressReporter, IReadOnlyList<Written<T>>> compare)
    {
        if (s.Runs.Length < 2) { throw new RepscopeException("compare needs at least two runs or models"); }
        var inputs = s.OnnxInputs(s.Examples);
        return terminal.WithProgress(p =>
        {
            var sources = new List<IActivationSource>();
            try
            {
                foreach (var path in s.Runs) { sources.Add(ActivationSources.Open(path, s.Stream(), inputs, s.TapList, p)); }
                return compare(sources, p);
            }
            finally
            {
                foreach (var source in sources) { source.Dispose(); }
            }
        });
    }
}
