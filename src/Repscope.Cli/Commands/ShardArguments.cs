using Repscope.Cluster;

namespace Repscope.Cli.Commands;

/// <summary>--shard K/N with --state S.npz, as `heatmap`, `layers` and `compare` take them.</summary>
internal static class ShardArguments
{
    /// <summary>Was either option given (then both must be)?</summary>
    public static bool Given(string? shard, string? state) => shard is not null || state is not null;

    /// <summary>The slice, after checking that both options are there and the state's folder exists.</summary>
    public static ShardSpec Parse(string? shard, string? state)
    {
        if (shard is null || string.IsNullOrWhiteSpace(state)) { throw new RepscopeException("--shard K/N and --state S.npz go together"); }
        OutputPath.CheckFile(state, "--state");
        return ShardSpec.Parse(shard);
    }

    /// <summary>Prints which of the <paramref name="batches"/> minibatches of the whole computation the slice took, and where its state went.</summary>
    public static int PrintShard(Terminal terminal, CkaStateInfo info, string state, long batches)
    {
        string which = info.EndBatch > info.FirstBatch ? $"minibatches {info.FirstBatch + 1}-{info.EndBatch}" : "no minibatches";
        terminal.WriteLine($"shard {info.Shard}/{info.Shards}: {which} of {batches} "
                           + $"({info.Rows.Count} x {info.Columns.Count} layers, n = {info.Examples})");
        terminal.WriteLine($"wrote {state}");
        return ExitCode.Ok;
    }
}
