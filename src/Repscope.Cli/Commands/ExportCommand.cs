using System.ComponentModel;
using Repscope.Analysis;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

public sealed class ExportCommand(Terminal terminal) : Command<ExportCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<RUN>")]
        [Description("Run directory written by `repscope train`.")]
        public string Run { get; init; } = "";

        [CommandOption("-o|--out <NPZ>")]
        [Description("The .npz to write: one float32 array per tap ([[n, C, H, W]]), plus labels and indices.")]
        public string Out { get; init; } = "";

        [CommandOption("--examples <N>")]
        [Description("The first N test examples.")]
        [DefaultValue(100)]
        public int Examples { get; init; } = 100;

        [CommandOption("--indices <LIST>")]
        [Description("Comma-separated test-set indices instead of --examples (e.g. 0,5,17).")]
        public string? Indices { get; init; }

        [CommandOption("--layers <SET>")]
        [Description("blocks, branches or all (as in `repscope layers`).")]
        [DefaultValue(LayerSelection.Blocks)]
        public LayerSelection Layers { get; init; } = LayerSelection.Blocks;

        [CommandOption("--batch-size <N>")]
        [DefaultValue(256)]
        public int BatchSize { get; init; } = 256;
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(s.Out)) { throw new RepscopeException("export needs --out FILE.npz"); }
        if (s.BatchSize < 1) { throw new RepscopeException($"--batch-size must be positive, got {s.BatchSize}"); }
        long[] indices;
        if (s.Indices is not null)
        {
            indices = s.Indices.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(t => long.TryParse(t, out long v) ? v : throw new RepscopeException($"--indices: '{t}' is not an integer")).ToArray();
        }
        else
        {
            if (s.Examples < 1) { throw new RepscopeException($"--examples must be positive, got {s.Examples}"); }
            indices = Enumerable.Range(0, s.Examples).Select(i => (long)i).ToArray();
        }
        var (arrays, n) = terminal.WithProgress(p => RunAnalyses.Export(s.Run, s.Out, indices, s.Layers, s.BatchSize, p));
        terminal.WriteLine($"wrote {s.Out}: {arrays - 2} taps + labels + indices for {n} examples");
        return 0;
    }
}
