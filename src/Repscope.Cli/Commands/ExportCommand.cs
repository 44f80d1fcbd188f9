using System.ComponentModel;
using Repscope.Models;
using Repscope.Workflows;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

public sealed class ExportCommand(Terminal terminal) : Command<ExportCommand.Settings>
{
    public sealed class Settings : OnnxInputSettings
    {
        [CommandArgument(0, "<RUN>")]
        [Description("Run directory written by `repscope train`, or an ONNX model (MODEL.onnx, with --input or --data).")]
        public string Run { get; init; } = "";

        [CommandOption("-o|--out <NPZ>")]
        [Description("The .npz to write: one float32 array per tap ([[n, C, H, W]]), plus labels and indices (runs); for ONNX models one array per tap named after it, and OUT.json beside it mapping member names to tap names.")]
        public string Out { get; init; } = "";

        [CommandOption("--examples <N>")]
        [Description("The first N test examples (runs: default 100; ONNX models: default all).")]
        public int? Examples { get; init; }

        [CommandOption("--indices <LIST>")]
        [Description("Comma-separated test-set indices instead of --examples (e.g. 0,5,17).")]
        public string? Indices { get; init; }

        [CommandOption("--layers <SET>")]
        [Description("blocks, branches or all (as in `repscope layers`).")]
        [DefaultValue(TapSet.Blocks)]
        public TapSet Layers { get; init; } = TapSet.Blocks;

        [CommandOption("--batch-size <N>")]
        [DefaultValue(256)]
        public int BatchSize { get; init; } = 256;

        [CommandOption("--uncompressed")]
        [Description("Store the arrays uncompressed, as numpy.savez does (default: deflated, as numpy.savez_compressed). Several times faster to write, and `heatmap` reads stored members by rows without inflating them first; the file is larger (activations deflate to about half).")]
        public bool Uncompressed { get; init; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(s.Out)) { throw new RepscopeException("export needs --out FILE.npz"); }
        OutputPath.CheckFile(s.Out, "--out");
        if (s.BatchSize < 1) { throw new RepscopeException($"--batch-size must be positive, got {s.BatchSize}"); }
        if (ActivationSources.IsOnnx(s.Run)) { return ExportOnnx(s); }
        long[] indices;
        if (s.Indices is not null)
        {
            indices = s.Indices.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(t => long.TryParse(t, out long v) ? v : throw new RepscopeException($"--indices: '{t}' is not an integer")).ToArray();
        }
        else
        {
            int examples = s.Examples ?? 100;
            if (examples < 1) { throw new RepscopeException($"--examples must be positive, got {examples}"); }
            indices = Enumerable.Range(0, examples).Select(i => (long)i).ToArray();
        }
        var r = terminal.WithProgress(p => ExportWorkflow.Run(s.Run, s.Out, indices, s.Layers, s.BatchSize, p, compress: !s.Uncompressed)).Result;
        terminal.WriteLine($"wrote {s.Out}: {r.Taps.Count} taps + labels + indices for {r.Examples} examples");
        return 0;
    }

    private int ExportOnnx(Settings s)
    {
        if (s.Indices is not null) { throw new RepscopeException("--indices applies to run directories; for an ONNX model, write the examples you want into the --input file"); }
        if (s.Examples is < 1) { throw new RepscopeException($"--examples must be positive, got {s.Examples}"); }
        var inputs = s.OnnxInputs(s.Examples);
        var (report, files) = terminal.WithProgress(p =>
        {
            using var source = (OnnxSource)ActivationSources.Open(s.Run, new StreamOptions(BatchSize: Math.Max(4, s.BatchSize)), inputs, s.TapList, p);
            return ExportWorkflow.Run(source, s.Out, s.BatchSize, p, compress: !s.Uncompressed);
        });
        terminal.WriteLine($"wrote {s.Out}: {report.Members.Count} taps for {report.Examples} examples; member names to tap names in {files[1]}");
        return 0;
    }
}
