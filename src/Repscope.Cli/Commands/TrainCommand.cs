using System.ComponentModel;
using System.Globalization;
using Repscope.Data;
using Repscope.Training;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

/// <summary><c>repscope train</c>: trains one ResNet into a run directory.</summary>
public sealed class TrainCommand : Command<TrainCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--depth <D>"), Description("Depth 6n+2: 8, 14, 20, 26, 38, 56, 62, 110, ..."), DefaultValue(20)]
        public int Depth { get; init; } = 20;

        [CommandOption("--width <W>"), Description("Width multiplier (channels round(16w), 32w, 64w)"), DefaultValue(1.0)]
        public double Width { get; init; } = 1;

        [CommandOption("--no-residual"), Description("Remove the residual connections")]
        public bool NoResidual { get; init; }

        [CommandOption("--data <NAME[:PATH]>"), Description("fashion-mnist, fashion-mnist-small (the copy shipped in data/), mnist, cifar10, cifar100, folder:PATH"), DefaultValue("fashion-mnist")]
        public string Data { get; init; } = "fashion-mnist";

        [CommandOption("--train-fraction <F>"), Description("Train on this fraction of the training split (stratified, seeded); 1 = all")]
        public double? TrainFraction { get; init; }

        [CommandOption("--train-examples <N>"), Description("Train on this many examples (stratified, seeded); without this or --train-fraction: at most 8000")]
        public long? TrainExamples { get; init; }

        [CommandOption("--test-examples <N>"), Description("Evaluate on this many test examples (stratified, the same for every run); default all")]
        public long? TestExamples { get; init; }

        [CommandOption("--image-size <S>"), Description("Side images of an image folder are resized to"), DefaultValue(32)]
        public int ImageSize { get; init; } = 32;

        [CommandOption("--cifar100-labels <fine|coarse>"), Description("CIFAR-100 label set"), DefaultValue(Cifar100Labels.Fine)]
        public Cifar100Labels Cifar100Labels { get; init; } = Cifar100Labels.Fine;

        [CommandOption("--epochs <E>"), Description("Epochs"), DefaultValue(TrainOptions.DefaultEpochs)]
        public int Epochs { get; init; } = TrainOptions.DefaultEpochs;

        [CommandOption("--batch-size <B>"), Description("Batch size"), DefaultValue(128)]
        public int BatchSize { get; init; } = 128;

        [CommandOption("--lr <LR>"), Description("Peak learning rate (cosine decay to 0 over the run)"), DefaultValue(TrainOptions.DefaultLr)]
        public double Lr { get; init; } = TrainOptions.DefaultLr;

        [CommandOption("--weight-decay <WD>"), Description("L2 weight decay"), DefaultValue(TrainOptions.DefaultWeightDecay)]
        public double WeightDecay { get; init; } = TrainOptions.DefaultWeightDecay;

        [CommandOption("--momentum <M>"), Description("SGD momentum"), DefaultValue(0.9)]
        public double Momentum { get; init; } = 0.9;

        [CommandOption("--warmup-epochs <W>"), Description("Epochs of linear learning-rate warm-up before the cosine decay (0 = none)"), DefaultValue(TrainOptions.DefaultWarmupEpochs)]
        public double WarmupEpochs { get; init; } = TrainOptions.DefaultWarmupEpochs;

        [CommandOption("--no-augment"), Description("No random crops or flips")]
        public bool NoAugment { get; init; }

        [CommandOption("--no-flip"), Description("Random crops but no horizontal flips (for data where flips make no sense)")]
        public bool NoFlip { get; init; }

        [CommandOption("--test-at-end"), Description("Evaluate on the test set only after the last epoch (default: after every epoch); training loss and accuracy are recorded every epoch either way")]
        public bool TestAtEnd { get; init; }

        [CommandOption("--seed <S>"), Description("Seed of the initialisation, data order, augmentation and training subset"), DefaultValue(1)]
        public int Seed { get; init; } = 1;

        [CommandOption("--threads <T>"), Description("CPU threads (0 = one per core); same seed and threads give bit-identical runs"), DefaultValue(0)]
        public int Threads { get; init; }

        [CommandOption("--out <RUN>"), Description("Run directory to create (or to continue with --resume)")]
        public string? Out { get; init; }

        [CommandOption("--resume"), Description("Continue the unfinished run in --out with its stored configuration")]
        public bool Resume { get; init; }

        [CommandOption("--json"), Description("Print run.json on stdout when done")]
        public bool Json { get; init; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var (name, path) = DataSpec.ParseNameAndPath(s.Data);
        var options = new TrainOptions
        {
            Depth = s.Depth, Width = s.Width, Residual = !s.NoResidual,
            Data = new DataSpec
            {
                Name = name, Path = path, TrainFraction = s.TrainFraction, TrainExamples = s.TrainExamples,
                TrainExamplesCap = TrainOptions.DefaultTrainExamples,
                TestExamples = s.TestExamples, ImageSize = s.ImageSize, Cifar100Labels = s.Cifar100Labels, Seed = s.Seed,
            },
            Epochs = s.Epochs, BatchSize = s.BatchSize, Lr = s.Lr, WeightDecay = s.WeightDecay, Momentum = s.Momentum, WarmupEpochs = s.WarmupEpochs,
            Augment = !s.NoAugment, Flip = !s.NoFlip, EvaluateEveryEpoch = !s.TestAtEnd, Seed = s.Seed, Threads = s.Threads,
            Out = s.Out ?? throw new RepscopeException("--out RUN is required (the run directory to create)"),
            Resume = s.Resume,
        };
        RunInfo info;
        try
        {
            info = Cli.WithProgress(p => Trainer.Train(options, p, cancellationToken));
        }
        catch (OperationCanceledException)
        {
            throw new RepscopeException($"training interrupted; continue it with: repscope train --out {s.Out} --resume");
        }
        var c = info.Config;
        string source = c.DataSource == "full" ? "" : $" ({c.DataSource})";
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{info.Architecture}, {info.ParameterCount:N0} parameters, {c.Data}{source}: {c.TrainExamples} train / {info.TestSet.Count} test examples, {info.Epochs.Count} epochs in {ProgressText.Duration(TimeSpan.FromSeconds(info.TrainSeconds))}"));
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"test accuracy {info.FinalTestAccuracy:P2}; run in {Path.GetFullPath(options.Out)}"));
        if (s.Json) { Console.WriteLine(File.ReadAllText(Path.Combine(Path.GetFullPath(options.Out), RunDirectory.RunFile))); }
        return 0;
    }
}
