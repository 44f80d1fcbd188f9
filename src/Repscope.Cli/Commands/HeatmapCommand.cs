using System.ComponentModel;
using Repscope.Cluster;
using Repscope.Reporting;
using Repscope.Similarity;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

/// <summary>
/// <c>repscope heatmap A.npz [B.npz] --out DIR</c>: all-pairs CKA of stacks of activations. With
/// <c>--shard K/N --state S.npz</c>: only the K-th of N slices of the minibatches, written as an accumulator
/// state for <c>repscope merge</c> (docs/slurm.md).
/// </summary>
public sealed class HeatmapCommand(Terminal terminal) : Command<HeatmapCommand.Settings>
{
    public sealed class Settings : KernelSettings
    {
        [CommandArgument(0, "<A.npz>")]
        [Description("One array per layer, each of shape (n, ...), all for the same n examples.")]
        public string A { get; init; } = "";

        [CommandArgument(1, "[B.npz]")]
        [Description("A second model's layers for the same examples: the map is A's layers x B's layers.")]
        public string? B { get; init; }

        [CommandOption("--out <DIR>")]
        [Description("Folder for cka.json and cka.png (created if needed).")]
        public string? Out { get; init; }

        [CommandOption("--batch-size <B>")]
        [Description("Rows per minibatch for the unbiased estimator (paper Eq. 3). Default: 256, the paper's setting.")]
        public int? BatchSize { get; init; }

        [CommandOption("--estimator <ESTIMATOR>")]
        [Description("unbiased (minibatch CKA, paper Eq. 3) or biased (whole-data CKA).")]
        [DefaultValue(HsicEstimator.Unbiased)]
        public HsicEstimator Estimator { get; init; } = HsicEstimator.Unbiased;

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
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        if (s.Shard is not null || s.State is not null) { return Shard(s); }
        if (string.IsNullOrWhiteSpace(s.Out)) { throw new RepscopeException("--out DIR is required (the folder for cka.json and cka.png)"); }
        if (s.Measure != SimilarityMeasure.Cka) { return MeasureHeatmap.Run(terminal, s.A, s.B, s.Out, s.Measure, s.BatchSize); }
        if (s.BatchSize is not null && s.Estimator == HsicEstimator.Biased)
        {
            throw new RepscopeException("--batch-size applies to the unbiased minibatch estimator; --estimator biased computes whole-data CKA");
        }
        var request = new CkaHeatmapRequest(s.A, s.B, s.BatchSize ?? 256, s.Estimator, s.Kernel, s.RbfThreshold);
        var result = terminal.WithProgress(p => CkaFiles.Heatmap(request, p));
        return Write(terminal, result, s.A, s.B, s.Out);
    }

    private int Shard(Settings s)
    {
        if (s.Shard is null || string.IsNullOrWhiteSpace(s.State)) { throw new RepscopeException("--shard K/N and --state S.npz go together"); }
        if (s.Out is not null) { throw new RepscopeException("--shard writes a state (--state), not a map: `repscope merge` of all the states writes --out"); }
        if (s.Measure != SimilarityMeasure.Cka) { throw new RepscopeException("--shard splits minibatch CKA only (--measure cka)"); }
        if (s.Estimator == HsicEstimator.Biased) { throw new RepscopeException("--shard needs the minibatch estimator (--estimator unbiased): the biased one needs every example at once"); }
        var shard = ShardSpec.Parse(s.Shard);
        var request = new CkaHeatmapRequest(s.A, s.B, s.BatchSize ?? 256, s.Estimator, s.Kernel, s.RbfThreshold);
        var info = terminal.WithProgress(p => CkaShards.Accumulate(request, shard, s.State, p));
        terminal.WriteLine($"shard {shard}: minibatches {info.FirstBatch + 1}-{info.EndBatch} of {(info.Examples + info.BatchSize - 1) / info.BatchSize} "
                           + $"({info.Rows.Count} x {info.Columns.Count} layers, n = {info.Examples})");
        terminal.WriteLine($"wrote {s.State}");
        return 0;
    }

    /// <summary>Writes cka.json and cka.png for a map of <paramref name="a"/> (against <paramref name="b"/>), as `heatmap` and `merge` do.</summary>
    internal static int Write(Terminal terminal, CkaHeatmapResult result, string a, string? b, string outDir)
    {
        foreach (string w in result.Warnings) { terminal.Warn(w); }
        string json = Path.Combine(outDir, "cka.json");
        string png = Path.Combine(outDir, "cka.png");
        result.Matrix.WriteJson(json);
        string title = b is null ? $"CKA between the layers of {Path.GetFileName(a)}" : $"CKA: {Path.GetFileName(a)} vs {Path.GetFileName(b)}";
        Heatmap.Save(png, result.Matrix, title, new HeatmapOptions
        {
            RowAxisLabel = $"{Path.GetFileName(a)} layer",
            ColumnAxisLabel = $"{Path.GetFileName(b ?? a)} layer",
            Subtitle = result.Description,
        });

        terminal.WriteLine($"{result.Matrix.Rows.Count} x {result.Matrix.Columns.Count} CKA map, {result.Description}");
        terminal.WriteLine($"wrote {json}");
        terminal.WriteLine($"wrote {png}");
        // A constant layer is bad input: the map is still written (nothing lost, null / grey where
        // undefined), but the command says so in one line and exits non-zero.
        var constant = ConstantLayers(result.Matrix, a, b ?? a).ToList();
        if (constant.Count > 0)
        {
            terminal.Fail($"{string.Join(", ", constant)} {(constant.Count == 1 ? "is" : "are")} constant (zero variance): " +
                      "CKA undefined there (null in cka.json, grey in cka.png)");
            return ExitCode.UserError;
        }
        return 0;
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
