using System.ComponentModel;
using Repscope.Analysis;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

public sealed class PcCommand(Terminal terminal) : Command<PcCommand.Settings>
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
        var r = terminal.WithProgress(p => RunAnalyses.PrincipalComponents(s.Run, s.Stream(), blocks, pc, p));
        foreach (var w in r.Warnings) { terminal.Warn(w); }
        terminal.WriteLine($"{r.Architecture}: first principal components of {r.Layers.Count} layers on {r.Examples} examples in {r.Seconds:F1}s");
        terminal.WriteLine("with PC1:    " + AnalysisText.Blocks(r.BlockStructure));
        terminal.WriteLine("without PC1: " + AnalysisText.Blocks(r.BlockStructureWithoutPc1));
        terminal.WriteLine($"wrote {Path.Combine(RunAnalyses.AnalysisFolder(s.Run), "pc.json")}, pc.png, pc_cka_without_pc1.png, pc_fraction.png");
        return 0;
    }
}
