using System.ComponentModel;
using Repscope.Workflows;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

public sealed class PruneCommand(Terminal terminal) : Command<PruneCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<RUN>")]
        [Description("Run directory written by `repscope train`.")]
        public string Run { get; init; } = "";

        [CommandOption("--refit-head")]
        [Description("Also re-fit only the final linear layer after each deletion (on half of the test examples; all accuracies then on the other half).")]
        public bool RefitHead { get; init; }

        [CommandOption("--batch-size <N>")]
        [DefaultValue(256)]
        public int BatchSize { get; init; } = 256;

        [CommandOption("--seed <N>")]
        [Description("Seed of the split used by --refit-head.")]
        [DefaultValue(0L)]
        public long Seed { get; init; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var written = terminal.WithProgress(p => PruneWorkflow.Run(s.Run, s.BatchSize, s.RefitHead, s.Seed, null, p));
        var r = written.Result;
        var res = r.Result;
        terminal.WriteLine($"{r.Architecture}: no block deleted {res.Baseline:P2} on {res.EvaluationExamples} examples" +
                          (r.RunTestAccuracy is { } a && !s.RefitHead ? $" (run.json: {a:P2})" : ""));
        foreach (var stage in res.Steps.GroupBy(x => x.Stage))
        {
            terminal.WriteLine($"  stage {stage.Key}: " + string.Join("  ", stage.Select(x => $"-{x.Deleted}: {x.Accuracy:P1}" +
                (x.RefitAccuracy is { } f ? $" (refit {f:P1})" : "") + (x.InBlockStructure ? "*" : ""))));
        }
        if (r.BlockStructureSource is not null) { terminal.WriteLine("  * the deleted block lies in the block structure"); }
        terminal.WroteFiles(written.Files);
        return 0;
    }
}
