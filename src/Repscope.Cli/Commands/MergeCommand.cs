using System.ComponentModel;
using Repscope.Cluster;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

/// <summary><c>repscope merge S1.npz S2.npz ... --out DIR</c>: the CKA map of the sharded states of one heatmap.</summary>
public sealed class MergeCommand(Terminal terminal) : Command<MergeCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<STATES>")]
        [Description("The states `repscope heatmap ... --shard K/N --state S.npz` wrote, one per shard, all N of them.")]
        public string[] States { get; init; } = [];

        [CommandOption("--out <DIR>")]
        [Description("Folder for cka.json and cka.png (created if needed): the same as one unsharded `repscope heatmap`.")]
        public string? Out { get; init; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(s.Out)) { throw new RepscopeException("--out DIR is required (the folder for cka.json and cka.png)"); }
        var (result, info) = CkaShards.Merge(s.States);
        terminal.WriteLine($"merged {info.Shards} shard{(info.Shards == 1 ? "" : "s")} of {string.Join(" x ", info.Inputs.Select(i => i.File))}");
        return HeatmapCommand.Write(terminal, result, info.Inputs[0].File, info.CrossModel ? info.Inputs[1].File : null, s.Out);
    }
}
