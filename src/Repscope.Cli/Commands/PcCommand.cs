using System.ComponentModel;
using Repscope.Analysis;
using Repscope.Workflows;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

public sealed class PcCommand(Terminal terminal) : Command<PcCommand.Settings>
{
    public sealed class Settings : BlockSettings
    {
        [CommandArgument(0, "<RUN>")]
        [Description("Run directory written by `repscope train`, or an ONNX model (MODEL.onnx, with --input or --data and --out).")]
        public string Run { get; init; } = "";

        [CommandOption("-o|--out <DIR>")]
        [Description("ONNX models: folder for pc.json and the PNGs (a run's go into RUN/analysis/).")]
        public string? Out { get; init; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var (blocks, pc) = (s.Blocks, s.Pc);   // bad settings fail before any work
        var stream = s.Stream();
        var written = s.OnRunOrOnnx(terminal, s.Run, s.Out, "pc.json and the PNGs", stream,
                                    (source, folder, p) => PcWorkflow.Run(source, folder, stream, blocks, pc, p),
                                    p => PcWorkflow.Run(s.Run, stream, blocks, pc, p));
        var r = written.Result;
        foreach (var w in r.Warnings) { terminal.Warn(w); }
        terminal.WriteLine($"{r.Architecture}: first principal components of {r.Layers.Count} layers on {r.Examples} examples in {r.Seconds:F1}s");
        terminal.WriteLine("with PC1:    " + AnalysisText.BlockStructureSummary(r.BlockStructure));
        terminal.WriteLine("without PC1: " + AnalysisText.BlockStructureSummary(r.BlockStructureWithoutPc1));
        terminal.WroteFiles(written.Files);
        return 0;
    }
}
