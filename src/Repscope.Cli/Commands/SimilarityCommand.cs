using System.ComponentModel;
using System.Text.Json;
using Repscope.Similarity;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

/// <summary><c>repscope similarity X.npy Y.npy --measure M</c>: one similarity measure of two activation matrices.</summary>
public sealed class SimilarityCommand(Terminal terminal) : Command<SimilarityCommand.Settings>
{
    public sealed class Settings : KernelSettings
    {
        [CommandArgument(0, "<X.npy>")]
        [Description("Activations of the first representation: shape (n, ...), one row per example (PWCCA takes its weights from X).")]
        public string X { get; init; } = "";

        [CommandArgument(1, "<Y.npy>")]
        [Description("Activations of the second representation, for the same n examples in the same order.")]
        public string Y { get; init; } = "";

        [CommandOption("--measure <MEASURE>")]
        [Description("cka, cca (mean squared canonical correlation), svcca, pwcca, procrustes or rsa (docs/measures.md).")]
        [DefaultValue(SimilarityMeasure.Cka)]
        public SimilarityMeasure Measure { get; init; } = SimilarityMeasure.Cka;

        [CommandOption("--estimator <ESTIMATOR>")]
        [Description("cka only: biased or unbiased HSIC. Default: biased on the whole data; unbiased with --batch-size.")]
        public HsicEstimator? Estimator { get; init; }

        [CommandOption("--batch-size <B>")]
        [Description("cka only: minibatch CKA (paper Eq. 3) over consecutive batches of B rows. Default: whole data.")]
        public int? BatchSize { get; init; }

        [CommandOption("--svcca-variance <F>")]
        [Description("svcca only: keep the fewest singular directions holding at least this fraction of the variance.")]
        [DefaultValue(MeasureOptions.DefaultSvccaVarianceKept)]
        public double SvccaVariance { get; init; } = MeasureOptions.DefaultSvccaVarianceKept;

        [CommandOption("--json")]
        [Description("Print one JSON object {\"measure\", \"value\", \"n\", ...} (value null when undefined, \"error\" says why).")]
        public bool Json { get; init; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        if (s.Measure != SimilarityMeasure.Cka && (s.Estimator is not null || s.BatchSize is not null))
        {
            throw new RepscopeException($"--estimator and --batch-size apply to --measure cka only; {s.Measure.ToString().ToLowerInvariant()} uses the whole data");
        }
        var (value, error, json, sentence) = s.Measure == SimilarityMeasure.Cka ? Cka(s) : Other(s);
        if (s.Json) { terminal.WriteLine(JsonSerializer.Serialize(json, JsonDefaults.Compact)); }
        else if (error is null) { terminal.WriteLine(sentence); }
        if (error is not null)
        {
            terminal.Fail(error);
            return ExitCode.UserError;
        }
        return double.IsNaN(value) ? ExitCode.UserError : 0;
    }

    private (double, string?, Dictionary<string, object?>, string) Cka(Settings s)
    {
        if (s.BatchSize is int b && b < 4) { throw new RepscopeException($"--batch-size must be at least 4 (the unbiased HSIC needs 4 rows per batch), got {b}"); }
        var estimator = s.Estimator ?? (s.BatchSize is null ? HsicEstimator.Biased : HsicEstimator.Unbiased);
        var r = CkaFiles.Pair(new CkaPairRequest(s.X, s.Y, s.Kernel, estimator, s.RbfThreshold, s.BatchSize));
        foreach (string w in r.Warnings) { terminal.Warn(w); }
        var json = Base(s, r.Cka, r.N, r.Error);
        json["kernel"] = r.Kernel; json["estimator"] = r.Estimator; json["rbfThreshold"] = r.RbfThreshold;
        json["batchSize"] = r.BatchSize; json["batches"] = r.Batches; json["droppedRows"] = r.DroppedRows;
        string how = r.BatchSize is int bs ? $"minibatch, {r.Batches} batches of {bs}" : "whole data";
        var options = new MeasureOptions(new CkaOptions(r.Kernel, r.Estimator, s.RbfThreshold));
        return (r.Cka, r.Error, json, $"CKA = {r.Cka:F6} ({Measures.Describe(SimilarityMeasure.Cka, options)}, {how}, n = {r.N})");
    }

    private static (double, string?, Dictionary<string, object?>, string) Other(Settings s)
    {
        var options = new MeasureOptions(SvccaVarianceKept: s.SvccaVariance);
        var r = MeasureFiles.Pair(s.X, s.Y, s.Measure, options);
        var json = Base(s, r.Value, r.N, r.Reason);
        string dims = "";
        if (r.DimensionsX is int dx && r.DimensionsY is int dy)
        {
            json["dimensionsX"] = dx; json["dimensionsY"] = dy;
            dims = s.Measure == SimilarityMeasure.Svcca ? $", {dx} and {dy} directions kept" : $", ranks {dx} and {dy}";
        }
        if (s.Measure == SimilarityMeasure.Svcca) { json["varianceKept"] = s.SvccaVariance; }
        if (s.Measure == SimilarityMeasure.Procrustes) { json["distance"] = r.Distance; }
        string distance = r.Distance is double d ? $", distance sqrt(2 - 2 value) = {d:F6}" : "";
        return (r.Value, r.Reason, json, $"{Measures.Describe(s.Measure, options)} = {r.Value:F6} (whole data, n = {r.N}{dims}{distance})");
    }

    private static Dictionary<string, object?> Base(Settings s, double value, long n, string? error) => new()
    {
        ["measure"] = s.Measure, ["value"] = value, ["n"] = n, ["x"] = s.X, ["y"] = s.Y, ["error"] = error,
    };
}
