using System.ComponentModel;
using System.Text.Json;
using Repscope.Similarity;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

/// <summary><c>repscope cka X.npy Y.npy</c>: CKA of two activation matrices (rows = examples).</summary>
public sealed class CkaCommand(Terminal terminal) : Command<CkaCommand.Settings>
{
    public sealed class Settings : KernelSettings
    {
        [CommandArgument(0, "<X.npy>")]
        [Description("Activations of the first representation: shape (n, ...), one row per example.")]
        public string X { get; init; } = "";

        [CommandArgument(1, "<Y.npy>")]
        [Description("Activations of the second representation, for the same n examples in the same order.")]
        public string Y { get; init; } = "";

        [CommandOption("--estimator <ESTIMATOR>")]
        [Description("biased or unbiased HSIC. Default: biased on the whole data; unbiased with --batch-size.")]
        public HsicEstimator? Estimator { get; init; }

        [CommandOption("--batch-size <B>")]
        [Description("Minibatch CKA (paper Eq. 3, unbiased HSIC per batch) over consecutive batches of B rows in file order. Default: whole data.")]
        public int? BatchSize { get; init; }

        [CommandOption("--json")]
        [Description("Print one JSON object (cka, kernel, estimator, n, batches, ...) instead of a sentence.")]
        public bool Json { get; init; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        if (s.BatchSize is int b && b < 4) { throw new RepscopeException($"--batch-size must be at least 4 (the unbiased HSIC needs 4 rows per batch), got {b}"); }
        var estimator = s.Estimator ?? (s.BatchSize is null ? HsicEstimator.Biased : HsicEstimator.Unbiased);
        var r = CkaFiles.Pair(new CkaPairRequest(s.X, s.Y, s.Kernel, estimator, s.RbfThreshold, s.BatchSize));
        foreach (string w in r.Warnings) { terminal.Warn(w); }
        if (s.Json)
        {
            terminal.WriteLine(JsonSerializer.Serialize(new
            {
                cka = r.Cka, kernel = r.Kernel, estimator = r.Estimator, rbfThreshold = r.RbfThreshold, n = r.N,
                batchSize = r.BatchSize, batches = r.Batches, droppedRows = r.DroppedRows, x = s.X, y = s.Y, error = r.Error,
            }, JsonDefaults.Compact));
        }
        else if (r.Error is null)
        {
            string how = r.BatchSize is int bs ? $"minibatch, {r.Batches} batches of {bs}" : "whole data";
            terminal.WriteLine($"CKA = {r.Cka:F6} ({(r.Kernel == KernelKind.Linear ? "linear" : $"RBF {r.RbfThreshold:g}")} kernel, {(r.Estimator == HsicEstimator.Biased ? "biased" : "unbiased")} HSIC, {how}, n = {r.N})");
        }
        if (r.Error is not null)
        {
            terminal.Fail(r.Error);
            return ExitCode.UserError;
        }
        return 0;
    }
}
