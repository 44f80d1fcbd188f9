using System.ComponentModel;
using Repscope.Analysis;
using Repscope.Cluster;
using Repscope.Workflows;
using Repscope.Similarity;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

/// <summary><c>repscope merge S1.npz S2.npz ... --out DIR</c>: the outputs of the sharded states of one heatmap, layers or compare.</summary>
public sealed class MergeCommand(Terminal terminal) : Command<MergeCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<STATES>")]
        [Description("The states `repscope heatmap|layers|compare ... --shard K/N --state S.npz` wrote, one per shard, all N of them.")]
        public string[] States { get; init; } = [];

        [CommandOption("--out <DIR>")]
        [Description("Folder (created if needed) for what one unsharded run writes: heatmap: cka.json, cka.png; layers: layers.json, layers.png, layers_batches.npz (no PC1); compare: compare_A_vs_B.json, .png.")]
        public string? Out { get; init; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(s.Out)) { throw new RepscopeException("--out DIR is required (the folder for the merged outputs)"); }
        OutputPath.CheckFolder(s.Out, "--out");
        switch (CkaShards.CommandOf(s.States))
        {
            case CkaShards.Layers:
            {
                var (r, files) = AnalysisShards.MergeLayers(s.States, s.Out);
                foreach (var w in r.Warnings) { terminal.Warn(w); }
                terminal.WriteLine($"merged {r.MergedShards} shard{(r.MergedShards == 1 ? "" : "s")} of layers {r.Run}: CKA of {r.Layers.Count} layers on {r.Examples} examples ({AnalysisText.Batches(r.Examples, r.BatchSize, r.Batches)}); no PC1 (it needs every example in one job)");
                terminal.WriteLine(AnalysisText.BlockStructureSummary(r.BlockStructure));
                if (r.BlockStructureScore is { } score) { terminal.WriteLine(AnalysisPlots.ScoreText(score)); }
                terminal.WroteFiles(files);
                return ExitCode.Ok;
            }
            case CkaShards.Compare:
            {
                var (r, files) = AnalysisShards.MergeCompare(s.States, s.Out);
                foreach (var w in r.Warnings) { terminal.Warn(w); }
                terminal.WriteLine($"merged shards of compare: {r.RunA} ({r.ArchitectureA}) vs {r.RunB} ({r.ArchitectureB}): {r.RowLayers.Count} x {r.ColumnLayers.Count} layers on {r.Examples} examples");
                terminal.WriteLine($"wrote {string.Join(", ", files)}");
                return ExitCode.Ok;
            }
        }
        var (result, info) = CkaShards.Merge(s.States);
        terminal.WriteLine($"merged {info.Shards} shard{(info.Shards == 1 ? "" : "s")} of {string.Join(" x ", info.Inputs.Select(i => i.File))}");
        return HeatmapCommand.Write(terminal, result, CkaHeatmapSettings.Of(info.Kernel, info.RbfThreshold, result),
                                    info.Inputs[0].File, info.CrossModel ? info.Inputs[1].File : null, s.Out, context.Arguments);
    }
}
