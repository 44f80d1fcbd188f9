using System.ComponentModel;
using Repscope.Analysis;
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
        var r = Cli.WithProgress(p => RunAnalyses.PrincipalComponents(s.Run, s.Stream(), s.Blocks, s.Pc, p));
        foreach (var w in r.Warnings) { Cli.Warn(w); }
        Console.WriteLine($"{r.Architecture}: first principal components of {r.Layers.Count} layers on {r.Examples} examples in {r.Seconds:F1}s");
        Console.WriteLine("with PC1:    " + AnalysisText.Blocks(r.BlockStructure));
        Console.WriteLine("without PC1: " + AnalysisText.Blocks(r.BlockStructureWithoutPc1));
        Console.WriteLine($"wrote {Path.Combine(RunAnalyses.AnalysisFolder(s.Run), "pc.json")}, pc.png, pc_cka_without_pc1.png, pc_fraction.png");
        return 0;
    }
}
