using System.ComponentModel;
using Repscope.Analysis;
using Repscope.Cluster;
using Repscope.Models;
using Repscope.Similarity;
using Repscope.Spectral;
using Repscope.Workflows;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

/// <summary>Options shared by the commands that stream a run's test examples through its model.</summary>
public class StreamSettings : OnnxInputSettings
{
    [CommandOption("--examples <N>")]
    [Description("Use the first N test examples (default: all), the same ones in the same order for every model.")]
    public int? Examples { get; init; }

    [CommandOption("--batch-size <N>")]
    [Description("Minibatch size, also the minibatch of minibatch CKA (paper: 256).")]
    [DefaultValue(256)]
    public int BatchSize { get; init; } = 256;

    [CommandOption("--layers <SET>")]
    [Description("Layer taps: blocks (stem + every residual block output), branches (also each block's branch before the addition) or all (also the convolutions, norms and ReLUs inside blocks).")]
    [DefaultValue(TapSet.Blocks)]
    public TapSet Layers { get; init; } = TapSet.Blocks;

    [CommandOption("--seed <N>")]
    [Description("Seed of shuffles and random projections.")]
    [DefaultValue(0L)]
    public long Seed { get; init; }

    internal StreamOptions Stream(int epochs = 1) => new(Examples, BatchSize, Layers, epochs, Seed);

    /// <summary>
    /// The analysis of a run directory (<paramref name="onRun"/>: it writes into RUN/analysis/, so --out is refused) or of an
    /// ONNX model fed by --input or --data (<paramref name="onOnnx"/>, given the opened model and the --out folder, which it
    /// needs for <paramref name="writes"/>), with progress.
    /// </summary>
    internal Written<T> OnRunOrOnnx<T>(Terminal terminal, string run, string? outDir, string writes, StreamOptions stream,
                                       Func<IActivationSource, string, IProgressReporter, Written<T>> onOnnx,
                                       Func<IProgressReporter, Written<T>> onRun)
    {
        if (ActivationSources.IsOnnx(run))
        {
            string folder = outDir ?? throw new RepscopeException($"an ONNX model needs --out DIR for {writes}");
            var inputs = OnnxInputs(Examples);
            return terminal.WithProgress(p =>
            {
                using var source = ActivationSources.Open(run, stream, inputs, TapList, p);
                return onOnnx(source, folder, p);
            });
        }
        if (outDir is not null) { throw new RepscopeException("--out applies to ONNX models; a run's analyses go into RUN/analysis/"); }
        return terminal.WithProgress(onRun);
    }
}

/// <summary>The similarity measure of <c>layers</c> and <c>compare</c> (docs/measures.md).</summary>
public interface IMeasureSettings
{
    SimilarityMeasure Measure { get; }
    double SvccaVariance { get; }
}

internal static class MeasureSettingsExtensions
{
    public const string MeasureHelp = "cka (default: minibatch linear CKA, streams), or cca, svcca, pwcca, procrustes, rsa (whole data: every example of " +
                                      "each layer at once, one decomposition per layer; docs/measures.md). Other measures write FILE_MEASURE.json / .png.";
    public const string SvccaHelp = "svcca only: keep the fewest singular directions holding at least this fraction of the variance.";

    /// <summary>The measure's settings; --svcca-variance away from its default needs --measure svcca.</summary>
    public static MeasureOptions Options(this IMeasureSettings s)
    {
        if (s.Measure != SimilarityMeasure.Svcca && s.SvccaVariance != MeasureOptions.DefaultSvccaVarianceKept)
        {
            throw new RepscopeException("--svcca-variance applies to --measure svcca only");
        }
        if (!(s.SvccaVariance > 0 && s.SvccaVariance <= 1)) { throw new RepscopeException($"--svcca-variance must be in (0, 1], got {s.SvccaVariance}"); }
        return new MeasureOptions(SvccaVarianceKept: s.SvccaVariance);
    }
}

/// <summary>Options of the analyses that find block structure and first principal components.</summary>
public class BlockSettings : StreamSettings
{
    [CommandOption("--block-threshold <CKA>")]
    [Description("Every pair of layers inside a block has at least this CKA (docs/block-structure.md).")]
    [DefaultValue(BlockStructureOptions.DefaultThreshold)]
    public double BlockThreshold { get; init; } = BlockStructureOptions.DefaultThreshold;

    [CommandOption("--block-min-layers <N>")]
    [Description("A block has at least this many consecutive layers.")]
    [DefaultValue(BlockStructureOptions.DefaultMinLayers)]
    public int BlockMinLayers { get; init; } = BlockStructureOptions.DefaultMinLayers;

    [CommandOption("--pc-rank <K>")]
    [Description("Sketch size of the streaming first-principal-component estimate (exact when >= features or examples).")]
    [DefaultValue(16)]
    public int PcRank { get; init; } = 16;

    [CommandOption("--pc-power-iterations <Q>")]
    [Description("Power iterations of the estimate (each costs two more passes over the examples).")]
    [DefaultValue(1)]
    public int PcPowerIterations { get; init; } = 1;

    internal BlockStructureOptions Blocks => new BlockStructureOptions(BlockThreshold, BlockMinLayers).Validated();

    internal FirstComponentOptions Pc
    {
        get
        {
            if (PcRank < 1) { throw new RepscopeException($"--pc-rank must be at least 1, got {PcRank}"); }
            if (PcPowerIterations < 0) { throw new RepscopeException($"--pc-power-iterations must be >= 0, got {PcPowerIterations}"); }
            return new FirstComponentOptions(PcRank, PcPowerIterations, Seed);
        }
    }
}

public sealed class LayersCommand(Terminal terminal) : Command<LayersCommand.Settings>
{
    public sealed class Settings : BlockSettings, IMeasureSettings
    {
        [CommandArgument(0, "<RUN>")]
        [Description("Run directory written by `repscope train`, an ONNX model (MODEL.onnx, with --input or --data and --out), or saved activations (ACTS.npz: one array per layer, rows = examples, with --out; --taps chooses arrays by name or pattern, else every array except 1-D integer ones).")]
        public string Run { get; init; } = "";

        [CommandOption("-o|--out <DIR>")]
        [Description("ONNX models and .npz files: folder for layers.json and the PNGs (a run's go into RUN/analysis/).")]
        public string? Out { get; init; }

        [CommandOption(NpzLimit.Option + " <SIZE>")]
        [Description(NpzLimit.Help)]
        public string? MaxNpzBytes { get; init; }

        [CommandOption("--epochs <N>")]
        [Description("Passes of minibatch CKA over the examples, each after the first in a new shuffled order; all batches averaged.")]
        [DefaultValue(1)]
        public int Epochs { get; init; } = 1;

        [CommandOption("--measure <MEASURE>")]
        [Description(MeasureSettingsExtensions.MeasureHelp + " Whole-data measures write layers_MEASURE.json with the map and its block-structure score (no PC1, no thresholded blocks).")]
        [DefaultValue(SimilarityMeasure.Cka)]
        public SimilarityMeasure Measure { get; init; } = SimilarityMeasure.Cka;

        [CommandOption("--svcca-variance <F>")]
        [Description(MeasureSettingsExtensions.SvccaHelp)]
        [DefaultValue(MeasureOptions.DefaultSvccaVarianceKept)]
        public double SvccaVariance { get; init; } = MeasureOptions.DefaultSvccaVarianceKept;

        [CommandOption("--shard <K/N>")]
        [Description("Only the K-th of N slices of the minibatches, written with --state; `repscope merge` of all N states writes layers.json and layers.png without PC1 (docs/slurm.md).")]
        public string? Shard { get; init; }

        [CommandOption("--state <S.npz>")]
        [Description("With --shard: where to write the slice's accumulator state (sums, settings, the model's and examples' checksums).")]
        public string? State { get; init; }
    }

    private static bool IsNpz(string path) => path.EndsWith(".npz", StringComparison.OrdinalIgnoreCase);

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var (blocks, pc) = (s.Blocks, s.Pc);   // bad settings fail before any work
        if (ShardArguments.Given(s.Shard, s.State))
        {
            if (s.Out is not null) { throw new RepscopeException("--shard writes a state (--state), not layers.json: `repscope merge` of all the states writes --out"); }
            var shard = ShardArguments.Parse(s.Shard, s.State);
            var info = terminal.WithProgress(p =>
            {
                using var source = ActivationSources.Open(s.Run, s.Stream(s.Epochs), ActivationSources.IsOnnx(s.Run) ? s.OnnxInputs(s.Examples) : null, s.TapList, p);
                return AnalysisShards.Layers(source, s.Stream(s.Epochs), shard, s.State!, blocks, [.. context.Arguments], p);
            });
            return ShardArguments.PrintShard(terminal, info, s.State!, AnalysisShards.Batches(info.Examples, info.BatchSize));
        }
        if (s.Measure != SimilarityMeasure.Cka)
        {
            if (IsNpz(s.Run)) { throw new RepscopeException($"{s.Run}: --measure on an .npz of activations: use `repscope heatmap {s.Run} --measure {s.Measure.ToString().ToLowerInvariant()} --out DIR`"); }
            return WholeData(s, s.Options());
        }
        Written<LayersResult> written;
        if (s.MaxNpzBytes is not null && !IsNpz(s.Run)) { throw new RepscopeException($"{NpzLimit.Option} applies to an .npz of activations"); }
        if (IsNpz(s.Run))
        {
            string folder = s.Out ?? throw new RepscopeException($"{s.Run}: an .npz of activations needs --out DIR for layers.json and the PNGs");
            if (s.Inputs.Length > 0 || s.Data is not null) { throw new RepscopeException("--input and --data feed an ONNX model; an .npz already holds the activations"); }
            OutputPath.CheckFolder(folder, "--out");
            if (s.Layers != TapSet.Blocks) { throw new RepscopeException("--layers chooses a run's taps; an .npz's arrays are chosen with --taps NAMES"); }
            long maxNpzBytes = NpzLimit.Parse(s.MaxNpzBytes);
            IReadOnlyList<string> notes = [], warnings = [];
            written = terminal.WithProgress(p =>
            {
                using var source = new NpzSource(s.Run, s.Stream(s.Epochs), s.TapList, maxNpzBytes);
                (notes, warnings) = (source.Notes, source.Warnings);
                Directory.CreateDirectory(folder);
                return LayersWorkflow.Run(source, folder, s.Stream(s.Epochs), blocks, pc, p);
            });
            foreach (string note in notes) { terminal.Note(note); }
            foreach (string warning in warnings) { terminal.Warn(warning); }
        }
        else
        {
            var stream = s.Stream(s.Epochs);
            written = s.OnRunOrOnnx(terminal, s.Run, s.Out, "layers.json and the PNGs", stream,
                                    (source, folder, p) => LayersWorkflow.Run(source, folder, stream, blocks, pc, p),
                                    p => LayersWorkflow.Run(s.Run, stream, blocks, pc, p));
        }
        var r = written.Result;
        foreach (var w in r.Warnings) { terminal.Warn(w); }
        terminal.WriteLine($"{r.Architecture}: CKA of {r.Layers.Count} layers on {r.Examples} examples ({AnalysisText.Batches(r.Examples, r.BatchSize, r.Batches)}) in {r.Seconds:F1}s");
        terminal.WriteLine(AnalysisText.BlockStructureSummary(r.BlockStructure));
        if (r.BlockStructureScore is { } score) { terminal.WriteLine(AnalysisPlots.ScoreText(score)); }
        terminal.WroteFiles(written.Files);
        return 0;
    }

    private int WholeData(Settings s, MeasureOptions options)
    {
        if (s.Epochs != 1) { throw new RepscopeException($"--epochs applies to --measure cka; {s.Measure.ToString().ToLowerInvariant()} uses the whole data once"); }
        var stream = s.Stream();
        var written = s.OnRunOrOnnx(terminal, s.Run, s.Out, "the map's JSON and PNG", stream,
                                    (source, folder, p) => LayersWorkflow.Run(source, folder, stream, s.Measure, options, p),
                                    p => LayersWorkflow.Run(s.Run, stream, s.Measure, options, p));
        var r = written.Result;
        terminal.WriteLine($"{r.Architecture}: {r.Measure.Description} of {r.Layers.Count} layers on {r.Examples} examples (whole data) in {r.Seconds:F1}s");
        if (r.BlockStructureScore is { } score)
        {
            terminal.WriteLine(score.Found
                ? FormattableString.Invariant($"block-structure strength {score.Strength:F3} (best square {score.FirstLayer}..{score.LastLayer}, {score.Coverage:P0} of layers)")
                : FormattableString.Invariant($"block-structure strength {score.Strength:F3}: no square brighter than the reference"));
        }
        foreach (string reason in r.Undefined) { terminal.Warn($"{s.Run}: {reason}"); }
        terminal.WroteFiles(written.Files);
        return 0;
    }
}
