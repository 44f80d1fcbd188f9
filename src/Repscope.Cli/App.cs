using Repscope.Cli.Commands;
using Spectre.Console.Cli;

namespace Repscope.Cli;

/// <summary>The exit codes of every command (docs/errors.md).</summary>
public static class ExitCode
{
    /// <summary>The work is done and its output complete (warnings, if any, are on stderr).</summary>
    public const int Ok = 0;

    /// <summary>Bad input or options, or output that is unusable (or, with --strict, incomplete).</summary>
    public const int UserError = 2;

    /// <summary>A bug in Repscope: an exception it did not expect.</summary>
    public const int InternalError = 3;
}

/// <summary>
/// The command line: registers every command (the one <see cref="Configure"/> that Program.cs and
/// the tests share), runs it, and turns every failure into one line on stderr and a non-zero exit code.
/// </summary>
public static class App
{
    /// <summary>A command as registered: its name, its class and the one-line description <c>repscope --help</c> lists.</summary>
    public sealed record Entry(string Name, Type Command, string Description, Action<IConfigurator> Add);

    private static Entry Command<T>(string name, string description) where T : class, ICommand =>
        new(name, typeof(T), description, c => c.AddCommand<T>(name).WithDescription(description));

    /// <summary>Every command, in the order <c>repscope --help</c> lists them.</summary>
    public static readonly IReadOnlyList<Entry> Commands =
    [
        Command<ReproduceCommand>("reproduce", "Reproduce the paper's experiments (train the grid, analyse, report.html); --quick: minutes on a CPU."),
        Command<TrainCommand>("train", "Train a ResNet (depth, width, residual or not) into a run directory."),
        Command<RunsCommand>("runs", "List the runs under a folder: architecture, data, seed, epochs, accuracy, state."),
        Command<LayersCommand>("layers", "Within-model CKA heatmap, block structure and PC1 fraction per layer of a run or an ONNX model."),
        Command<CompareCommand>("compare", "Cross-model CKA heatmaps of two or more runs or ONNX models on the same examples."),
        Command<PcCommand>("pc", "First principal components: their similarity across layers and CKA without them."),
        Command<ProbeCommand>("probe", "Linear probe accuracy of every residual block output and residual branch of a run."),
        Command<PruneCommand>("prune", "Delete residual blocks from the end of each stage and measure accuracy."),
        Command<TapsCommand>("taps", "Every tensor of an ONNX model that can be tapped (op, type, shape), the default taps marked."),
        Command<ExportCommand>("export", "Write the activations of a run or an ONNX model at its taps for chosen examples to .npz."),
        Command<ErrorsCommand>("errors", "Do two groups of runs make the same mistakes? Per-example and per-class comparison beside a seed control."),
        Command<ClassDiffCommand>("classdiff", "Per-class t-tests (Holm-Sidak corrected) between two matrices of per-class accuracies (.npy, rows = seeds)."),
        Command<CkaCommand>("cka", "CKA of two activation matrices (.npy, rows = examples)."),
        Command<SimilarityCommand>("similarity", "One similarity measure of two activation matrices: cka, cca, svcca, pwcca, procrustes or rsa (.npy, rows = examples)."),
        Command<HeatmapCommand>("heatmap", "All-pairs CKA heatmap of the arrays in an .npz (or between two): cka.json + cka.png."),
        Command<MergeCommand>("merge", "Merge the states of a sharded heatmap (heatmap --shard K/N --state S.npz) into cka.json + cka.png."),
        Command<VersionCommand>("version", "Print the versions of Repscope, TorchSharp and libtorch."),
    ];

    /// <summary>Registers every command and the terminal they write to.</summary>
    public static void Configure(IConfigurator config, Terminal terminal)
    {
        config.SetApplicationName("repscope");
        config.PropagateExceptions();
        config.UseStrictParsing();
        config.Settings.Console = terminal.Out;
        config.Settings.Registrar.RegisterInstance(terminal);
        foreach (var e in Commands) { e.Add(config); }
    }

    /// <summary>Parses <paramref name="args"/>, runs the command; returns the exit code (<see cref="ExitCode"/>).</summary>
    public static int Run(string[] args, Terminal terminal)
    {
        try
        {
            OptionCheck.Check(args, Commands);
            var app = new CommandApp();
            app.Configure(c => Configure(c, terminal));
            return app.Run(args);
        }
        catch (Exception e)
        {
            return PrintError(e, terminal);
        }
    }

    /// <summary>Writes one line for <paramref name="e"/>; returns the exit code that goes with it.</summary>
    public static int PrintError(Exception e, Terminal terminal)
    {
        e = Unwrap(e);
        switch (e)
        {
            case RepscopeException:
            case CommandParseException:
            case CommandRuntimeException:
            case FileNotFoundException:
            case DirectoryNotFoundException:
            case UnauthorizedAccessException:
            case IOException:
                terminal.Fail(e is RepscopeException r ? r.MessageWith(Flag) : e.Message);
                return ExitCode.UserError;
            default:
                terminal.Fail($"internal error: {e.GetType().Name}: {e.Message} (set REPSCOPE_DEBUG=1 for a stack trace)");
                if (Environment.GetEnvironmentVariable("REPSCOPE_DEBUG") == "1") { terminal.Note(e.ToString()); }
                return ExitCode.InternalError;
        }
    }

    /// <summary>A library parameter's command-line flag: batchSize -> --batch-size.</summary>
    internal static string Flag(string parameter) =>
        "--" + string.Concat(parameter.Select((c, i) => char.IsUpper(c) && i > 0 ? "-" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));

    private static Exception Unwrap(Exception e)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } or System.Reflection.TargetInvocationException && e.InnerException is not null)
        {
            e = e.InnerException!;
        }
        return e;
    }
}
