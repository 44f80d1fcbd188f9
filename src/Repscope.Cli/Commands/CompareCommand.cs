using System.ComponentModel;
using Repscope.Cluster;
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

        [CommandOption("--shard <K/N>")]
        [Description("Two runs or models only: the K-th of N slices of the minibatches, written with --state; `repscope merge` of all N states writes the map (docs/slurm.md).")]
        public string? Shard { get; init; }

        [CommandOption("--state <S.npz>")]
        [Description("With --shard: where to write the slice's accumulator state (sums, settings, the models' and examples' checksums).")]
        public string? State { get; init; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        if (ShardArguments.Given(s.Shard, s.State)) { return Shard(context, s); }
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

    private int Shard(CommandContext context, Settings s)
    {
        var shard = ShardArguments.Parse(s.Shard, s.State);
        if (s.Runs.Length != 2) { throw new RepscopeException($"--shard splits the map of one pair: give two runs or models, not {s.Runs.Length}"); }
        var inputs = s.Runs.Any(ActivationSources.IsOnnx) ? s.OnnxInputs(s.Examples) : null;
        var info = terminal.WithProgress(p =>
        {
            using var a = ActivationSources.Open(s.Runs[0], s.Stream(), inputs, s.TapList, p);
            using var b = ActivationSources.Open(s.Runs[1], s.Stream(), inputs, s.TapList, p);
            return AnalysisShards.Compare(a, b, s.Stream(), shard, s.State!, [.. context.Arguments], p);
        });
        return ShardArguments.PrintShard(terminal, info, s.State!, AnalysisShards.Batches(info.Examples, info.BatchSize));
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
