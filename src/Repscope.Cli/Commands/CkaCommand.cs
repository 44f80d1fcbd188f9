using System.ComponentModel;
using System.Text.Json;
using Repscope.Similarity;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

/// <summary><c>repscope cka X.npy Y.npy</c>: CKA of two activation matrices (rows = examples).</summary>
public sealed class CkaCommand(Terminal terminal) : Command<CkaCommand.Settings>
{
    public sealed class Settings : CkaSettings
    {
        [CommandArgument(0, "<X.npy>")]
        [Description("Activations of the first representation: shape (n, ...), one row per example.")]
        public string X { get; init; } = "";

        [CommandArgument(1, "<Y.npy>")]
        [Description("Activations of the second representation, for the same n examples in the same order.")]
        public string Y { get; init; } = "";

        [CommandOption("--json")]
        [Description("Print one JSON object (cka, kernel, estimator, n, batches, ...) instead of a sentence.")]
        public bool Json { get; init; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var r = CkaFiles.Pair(new CkaPairRequest(s.X, s.Y, s.Kernel, s.Estimator, s.RbfThreshold, s.BatchSize, s.ShuffleSeed));
        foreach (string w in r.Warnings) { terminal.Warn(w); }
        if (s.Json)
        {
            terminal.WriteLine(JsonSerializer.Serialize(new
            {
                cka = r.Cka, kernel = r.Kernel, estimator = r.Estimator, rbfThreshold = r.RbfThreshold, n = r.N,
                batchSize = r.BatchSize, batches = r.Batches, droppedRows = r.DroppedRows,
                shuffleSeed = r.Plan?.Batches?.ShuffleSeed, x = s.X, y = s.Y, error = r.Error,
            }, JsonDefaults.Compact));
        }
        else if (r.Error is null)
        {
            string kernel = r.Kernel == KernelKind.Linear ? "linear" : $"RBF {r.RbfThreshold:g}";
            terminal.WriteLine($"CKA = {r.Cka:F6} ({kernel} kernel, {r.Plan!.Describe()}, n = {r.N})");
        }
        if (r.Error is not null)
        {
            terminal.Fail(r.Error);
            return ExitCode.UserError;
        }
        return ExitCode.Ok;
    }
}
