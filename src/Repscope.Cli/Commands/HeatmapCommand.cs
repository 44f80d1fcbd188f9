using Repscope.Cluster;
using System.ComponentModel;
using Repscope.Reporting;
using Repscope.Similarity;
using Spectre.Console.Cli;
using System.Text.Json;

namespace Repscope.Cli.Commands;

/// <summary>
/// <c>repscope heatmap A.npz [B.npz] --out DIR</c>: all-pairs CKA of stacks of activations. With
/// <c>--shard K/N --state S.npz</c>: only the K-th of N slices of the minibatches, written as an accumulator
/// state for <c>repscope merge</c> (docs/slurm.md).
/// </summary>
public sealed class HeatmapCommand(Terminal terminal) : Command<HeatmapCommand.Settings>
{
    public sealed class Settings : CkaSettings
    {
        [CommandArgument(0, "<A.npz>")]
        [Description("One array per layer, each of shape (n, ...), all for the same n examples.")]
        public string A { get; init; } = "";

        [CommandArgument(1, "[B.npz]")]
        [Description("A second model's layers for the same examples: the map is A's layers x B's layers.")]
        public string? B { get; init; }

        [CommandOption("--out <DIR>")]
        [Description("Folder for cka.json and the figure (cka.png, or --format) (created if needed).")]
        public string? Out { get; init; }

        [CommandOption("--layers <NAMES>")]
        [Description("Comma-separated array names or patterns (* and ?), e.g. 'stem,block*'. Default: every array except 1-D integer ones (labels, indices), which are skipped with a note.")]
        public string? Layers { get; init; }

        [CommandOption("--format <FORMAT>")]
        [Description("Figure format: png, svg or pdf (cka.png, cka.svg or cka.pdf).")]
        [DefaultValue(FigureFormat.Png)]
        public FigureFormat Format { get; init; } = FigureFormat.Png;

        [CommandOption("--origin-bottom-left")]
        [Description("Draw the first layer at the bottom left, as the paper's figures do (default: top left, as a matrix is printed).")]
        public bool OriginBottomLeft { get; init; }

        [CommandOption("--shard <K/N>")]
        [Description("Only the K-th of N slices of the minibatches (1 <= K <= N); with --state. `repscope merge` of all N states gives the whole map.")]
        public string? Shard { get; init; }

        [CommandOption("--state <S.npz>")]
        [Description("With --shard: where to write the slice's accumulator state (sums, settings, the inputs' SHA-256).")]
        public string? State { get; init; }

        [CommandOption("--measure <MEASURE>")]
        [Description("cka (streams, minibatch), or cca, svcca, pwcca, procrustes, rsa (whole data; docs/measures.md): writes MEASURE.json + MEASURE.png.")]
        [DefaultValue(SimilarityMeasure.Cka)]
        public SimilarityMeasure Measure { get; init; } = SimilarityMeasure.Cka;

        [CommandOption(NpzLimit.Option + " <SIZE>")]
        [Description(NpzLimit.Help)]
        public string? MaxNpzBytes { get; init; }

        [CommandOption("--strict")]
        [Description("Exit 2 when some CKA values are undefined (a constant layer); without it the complete map is written, the undefined cells null / grey, with a warning and exit 0.")]
        public bool Strict { get; init; }

        public override Spectre.Console.ValidationResult Validate() =>
            string.IsNullOrWhiteSpace(Out) && Shard is null && State is null
                ? Spectre.Console.ValidationResult.Error("--out DIR is required (the folder for cka.json and cka.png)") : base.Validate();
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        if (s.Shard is not null || s.State is not null) { return Shard(s); }
        OutputPath.CheckFolder(s.Out!, "--out");
        long maxNpzBytes = NpzLimit.Parse(s.MaxNpzBytes);
        if (s.Measure != SimilarityMeasure.Cka && s.MaxNpzBytes is not null) { throw new RepscopeException($"{NpzLimit.Option} applies to --measure cka"); }
        if (s.Measure != SimilarityMeasure.Cka) { return MeasureHeatmap.Run(terminal, s.A, s.B, s.Out!, s.Measure, s.BatchSize, s.Strict); }
        var request = new CkaHeatmapRequest(s.A, s.B, s.BatchSize, s.Estimator, s.Kernel, s.RbfThreshold, s.ShuffleSeed, LayerPatterns(s),
                                            maxNpzBytes);
        // The figure's renderer and the JSON writer's code for cka.json (System.Text.Json builds it on first use, 0.1 s)
        // load on another core while the map is computed; libtorch starts loading once the inputs are open (CkaFiles).
        // A failure here is left to the real writing below, which reports it.
        var warm = Task.Run(() =>
        {
            try { Heatmap.Warm(); } catch (Exception) { }
            try { _ = JsonSerializer.Serialize(WarmUpJson, JsonDefaults.Options); } catch (Exception) { }
        });
        var result = terminal.WithProgress(p => CkaFiles.Heatmap(request, p));
        warm.Wait();
        foreach (string note in result.Notes ?? []) { terminal.Note(note); }
        return Write(terminal, result, CkaHeatmapSettings.Of(request, result), s.A, s.B, s.Out!, context.Arguments,
                     new Figure(s.Format, s.OriginBottomLeft), s.Strict);
    }

    /// <summary>A cka.json of every field's type, serialised once on another core so that the real one starts warm.</summary>
    private static readonly CkaHeatmapJson WarmUpJson = new(["a"], ["a"], [[1.0]],
        new CkaHeatmapSettings("cka", KernelKind.Linear, null, HsicEstimator.Unbiased, 256, 1, null, null, 4, 0),
        [new InputFile("a", 1, "00")], new CommandProvenance("0", null, null), []);

    /// <summary>The names or patterns of --layers; null without it.</summary>
    private static string[]? LayerPatterns(Settings s)
    {
        var layers = s.Layers?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (layers is { Length: 0 }) { throw new RepscopeException("--layers: no names given"); }
        return layers;
    }

    private int Shard(Settings s)
    {
        if (s.Out is not null) { throw new RepscopeException("--shard writes a state (--state), not a map: `repscope merge` of all the states writes --out"); }
        if (s.Measure != SimilarityMeasure.Cka) { throw new RepscopeException("--shard splits minibatch CKA only (--measure cka)"); }
        if (s.Estimator == HsicEstimator.Biased) { throw new RepscopeException("--shard needs the minibatch estimator (--estimator unbiased): the biased one needs every example at once"); }
        var shard = ShardArguments.Parse(s.Shard, s.State);
        var request = new CkaHeatmapRequest(s.A, s.B, s.BatchSize ?? CkaPlan.DefaultBatchSize, HsicEstimator.Unbiased, s.Kernel, s.RbfThreshold, s.ShuffleSeed,
                                            LayerPatterns(s), NpzLimit.Parse(s.MaxNpzBytes));
        var info = terminal.WithProgress(p => CkaShards.Accumulate(request, shard, s.State!, p));
        return ShardArguments.PrintShard(terminal, info, s.State!, new BatchPlan(info.Examples, info.BatchSize, info.ShuffleSeed).Count);
    }

    /// <summary>How the figure is drawn.</summary>
    internal sealed record Figure(FigureFormat Format = FigureFormat.Png, bool OriginBottomLeft = false);

    /// <summary>
    /// Writes cka.json (matrix, settings, inputs with SHA-256, provenance) and the figure for a map of
    /// <paramref name="a"/> (against <paramref name="b"/>), as `heatmap` and `merge` do; returns the exit code:
    /// 0, with a warning when some cells are undefined (2 with <paramref name="strict"/>).
    /// </summary>
    internal static int Write(Terminal terminal, CkaHeatmapResult result, CkaHeatmapSettings settings, string a, string? b, string outDir,
                              IEnumerable<string> arguments, Figure? figure = null, bool strict = false)
    {
        figure ??= new Figure();
        foreach (string w in result.Warnings) { terminal.Warn(w); }
        Directory.CreateDirectory(outDir);
        string json = Path.Combine(outDir, "cka.json");
        string png = Path.Combine(outDir, "cka" + figure.Format.Extension());
        string title = b is null ? $"CKA between the layers of {Path.GetFileName(a)}" : $"CKA: {Path.GetFileName(a)} vs {Path.GetFileName(b)}";
        // The figure is drawn on another core while cka.json is written (each file atomically on its own).
        var drawing = Task.Run(() => Heatmap.Save(png, result.Matrix, title, new HeatmapOptions
        {
            RowAxisLabel = $"{Path.GetFileName(a)} layer",
            ColumnAxisLabel = $"{Path.GetFileName(b ?? a)} layer",
            Subtitle = result.Description,
            Format = figure.Format,
            OriginBottomLeft = figure.OriginBottomLeft,
        }));
        try
        {
            var m = result.Matrix.ToJson();
            var inputs = result.Inputs ?? new[] { a }.Concat(b is null ? [] : [b]).Where(File.Exists).Select(InputFile.Of).ToList();
            AtomicFile.WriteJson(json, new CkaHeatmapJson(m.Rows, m.Columns, m.Values, settings, inputs,
                                                          CommandProvenance.Of(arguments), result.Notes ?? []));
        }
        catch
        {
            // An error writing cka.json is the one reported; the figure is left to finish first.
            try { drawing.Wait(); } catch (AggregateException) { }
            throw;
        }
        drawing.Wait();
        terminal.WriteLine($"{result.Matrix.Rows.Count} x {result.Matrix.Columns.Count} CKA map, {result.Description}");
        terminal.WriteLine($"wrote {json}");
        terminal.WriteLine($"wrote {png}");
        // A constant layer makes some cells undefined; the map is complete and marks them (null / grey):
        // a warning and exit 0, or with --strict an error and exit 2 (docs/errors.md).
        var constant = ConstantLayers(result.Matrix, a, b ?? a).ToList();
        int undefined = result.Matrix.Values.Cast<double>().Count(double.IsNaN);
        if (undefined == 0) { return ExitCode.Ok; }
        string what = (constant.Count > 0
            ? $"{string.Join(", ", constant)} {(constant.Count == 1 ? "is" : "are")} constant (zero variance): "
            : "") + $"CKA undefined in {undefined} of {result.Matrix.Values.Length} cells (null in cka.json, grey in {Path.GetFileName(png)})";
        if (strict)
        {
            terminal.Fail(what + " (--strict)");
            return ExitCode.UserError;
        }
        terminal.Warn(what);
        return ExitCode.Ok;
    }

    /// <summary>Layers whose whole row or column is undefined, named with their file.</summary>
    private static IEnumerable<string> ConstantLayers(CkaMatrix m, string rowFile, string columnFile)
    {
        int rows = m.Rows.Count, cols = m.Columns.Count;
        var names = Enumerable.Range(0, rows).Where(i => Enumerable.Range(0, cols).All(j => double.IsNaN(m[i, j]))).Select(i => $"{rowFile}: layer '{m.Rows[i]}'");
        var columnNames = Enumerable.Range(0, cols).Where(j => Enumerable.Range(0, rows).All(i => double.IsNaN(m[i, j]))).Select(j => $"{columnFile}: layer '{m.Columns[j]}'");
        return names.Concat(columnNames).Distinct();
    }
}
