using System.ComponentModel;
using Repscope.Analysis;
using Repscope.Models;
using Repscope.Workflows;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

public sealed class ProbeCommand(Terminal terminal) : Command<ProbeCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<RUN>")]
        [Description("Run directory written by `repscope train`.")]
        public string Run { get; init; } = "";

        [CommandOption("--examples <N>")]
        [Description("Use the first N test examples (default: all) to measure the probes (with --train-examples: shuffled with --seed and split into probe training and held-out examples).")]
        public int? Examples { get; init; }

        [CommandOption("--train-examples <N>")]
        [Description("Train the probes on this many of the (shuffled) test examples and measure them on the rest. Default: train on the run's own training images and measure on its test examples, as the paper does.")]
        public long? TrainExamples { get; init; }

        [CommandOption("--max-features <P>")]
        [Description("Larger layers are average-pooled over space to at most P features (C x s x s, largest s that fits; at least global pooling).")]
        [DefaultValue(ProbeOptions.DefaultMaxFeatures)]
        public int MaxFeatures { get; init; } = ProbeOptions.DefaultMaxFeatures;

        [CommandOption("--weight-decay <L>")]
        [Description("L2 penalty of the probe weights.")]
        [DefaultValue(ProbeOptions.DefaultWeightDecay)]
        public double WeightDecay { get; init; } = ProbeOptions.DefaultWeightDecay;

        [CommandOption("--iterations <N>")]
        [Description("L-BFGS iterations per probe.")]
        [DefaultValue(ProbeOptions.DefaultMaxIterations)]
        public int Iterations { get; init; } = ProbeOptions.DefaultMaxIterations;

        [CommandOption("--memory-mb <MB>")]
        [Description("Pooled features of as many layers as fit in this are gathered per pass over the examples.")]
        [DefaultValue(1024)]
        public int MemoryMb { get; init; } = 1024;

        [CommandOption("--batch-size <N>")]
        [DefaultValue(256)]
        public int BatchSize { get; init; } = 256;

        [CommandOption("--seed <N>")]
        [DefaultValue(0L)]
        public long Seed { get; init; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        if (s.MaxFeatures < 1) { throw new RepscopeException($"--max-features must be positive, got {s.MaxFeatures}"); }
        if (s.Iterations < 1) { throw new RepscopeException($"--iterations must be positive, got {s.Iterations}"); }
        if (s.WeightDecay < 0) { throw new RepscopeException($"--weight-decay must be >= 0, got {s.WeightDecay}"); }
        if (s.MemoryMb < 1) { throw new RepscopeException($"--memory-mb must be positive, got {s.MemoryMb}"); }
        var options = new ProbeOptions(s.MaxFeatures, s.WeightDecay, s.Iterations, s.Seed);
        var written = terminal.WithProgress(p => ProbeWorkflow.Run(s.Run, new StreamOptions(s.Examples, s.BatchSize, TapSet.Branches, 1, s.Seed),
                                                                  s.TrainExamples, options, (long)s.MemoryMb << 20, p));
        var r = written.Result;
        terminal.WriteLine($"{r.Architecture}: linear probes on {r.Probes.Count} layers, {r.TrainExamples} {(r.FitOn == ProbeWorkflow.FitOnTrainingSet ? "training images" : "shuffled test examples")} to fit / {r.TestExamples} held-out examples to measure, {r.Seconds:F1}s");
        foreach (var p in r.Probes)
        {
            terminal.WriteLine($"  {p.Layer,-28} {p.Result.TestAccuracy,7:P2}  ({p.Result.Features} features)");
        }
        if (r.BlockStructureSource is null) { terminal.WriteLine("no layers.json yet: run `repscope layers` first to mark the block structure"); }
        terminal.WroteFiles(written.Files);
        return 0;
    }
}
