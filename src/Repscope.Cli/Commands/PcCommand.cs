using System.ComponentModel;
using Repscope.Analysis;
using Repscope.Workflows;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

public sealed class PcCommand : Command<PcCommand.Settings>
{
    public sealed class Settings : BlockSettings
    {
        [CommandArgument(0, "<RUN>")]
        [Description("Run directory written by `repscope train`.")]
        public string Run { get; init; } = "";
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var (blocks, pc) = (s.Blocks, s.Pc);   // bad settings fail before any work
        var written = Cli.WithProgress(p => PcWorkflow.Run(s.Run, s.Stream(), blocks, pc, p));
        var r = written.Result;
        foreach (var w in r.Warnings) { Cli.Warn(w); }
        Console.WriteLine($"{r.Architecture}: first principal components of {r.Layers.Count} layers on {r.Examples} examples in {r.Seconds:F1}s");
        Console.WriteLine("with PC1:    " + AnalysisText.Blocks(r.BlockStructure));
        Console.WriteLine("without PC1: " + AnalysisText.Blocks(r.BlockStructureWithoutPc1));
        Console.WriteLine($"wrote {string.Join(", ", written.Files.Select((f, i) => i == 0 ? f : Path.GetFileName(f)))}");
        return 0;
    }
}
