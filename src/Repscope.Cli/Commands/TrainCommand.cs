using System.ComponentModel;
using System.Globalization;
using Repscope.Data;
using Repscope.Runs;
using Repscope.Training;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

/// <summary><c>repscope train</c>: trains one ResNet into a run directory.</summary>
public sealed class TrainCommand(Terminal terminal) : Command<TrainCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--depth <D>"), Description("Depth 6n+2 with n >= 1: 8, 14, 20, 26, 32, 38, 44, 56, 110 and so on"), DefaultValue(TrainingDefaults.Depth)]
        public int Depth { get; init; } = TrainingDefaults.Depth;

        [CommandOption("--width <W>"), Description("Width multiplier (channels round(16w), 32w, 64w)"), DefaultValue(TrainingDefaults.Width)]
        public double Width { get; init; } = TrainingDefaults.Width;

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

        [CommandOption("--epochs <E>"), Description("Epochs"), DefaultValue(TrainingDefaults.Epochs)]
        public int Epochs { get; init; } = TrainingDefaults.Epochs;

        [CommandOption("--batch-size <B>"), Description("Batch size"), DefaultValue(TrainingDefaults.BatchSize)]
        public int BatchSize { get; init; } = TrainingDefaults.BatchSize;

        [CommandOption("--lr <LR>"), Description("Peak learning rate (cosine decay to 0 over the run)"), DefaultValue(TrainingDefaults.Lr)]
        public double Lr { get; init; } = TrainingDefaults.Lr;

        [CommandOption("--weight-decay <WD>"), Description("L2 weight decay"), DefaultValue(TrainingDefaults.WeightDecay)]
        public double WeightDecay { get; init; } = TrainingDefaults.WeightDecay;

        [CommandOption("--momentum <M>"), Description("SGD momentum"), DefaultValue(TrainingDefaults.Momentum)]
        public double Momentum { get; init; } = TrainingDefaults.Momentum;

        [CommandOption("--warmup-epochs <W>"), Description("Epochs of linear learning-rate warm-up before the cosine decay (0 = none)"), DefaultValue(TrainingDefaults.WarmupEpochs)]
        public double WarmupEpochs { get; init; } = TrainingDefaults.WarmupEpochs;

        [CommandOption("--no-augment"), Description("No random crops or flips")]
        public bool NoAugment { get; init; }

        [CommandOption("--no-flip"), Description("Random crops but no horizontal flips (for data where flips make no sense)")]
        public bool NoFlip { get; init; }

        [CommandOption("--test-at-end"), Description("Evaluate on the test set only after the last epoch (default: after every epoch); training loss and accuracy are recorded every epoch either way")]
        public bool TestAtEnd { get; init; }

        [CommandOption("--seed <S>"), Description("Seed of the initialisation, data order, augmentation and training subset"), DefaultValue(TrainingDefaults.Seed)]
        public int Seed { get; init; } = TrainingDefaults.Seed;

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
                TrainExamplesCap = TrainingDefaults.TrainExamples,
                TestExamples = s.TestExamples, ImageSize = s.ImageSize, Cifar100Labels = s.Cifar100Labels, Seed = s.Seed,
            },
            Epochs = s.Epochs, BatchSize = s.BatchSize, Lr = s.Lr, WeightDecay = s.WeightDecay, Momentum = s.Momentum, WarmupEpochs = s.WarmupEpochs,
            Augment = !s.NoAugment, Flip = !s.NoFlip, EvaluateEveryEpoch = !s.TestAtEnd, Seed = s.Seed, Threads = s.Threads,
            Out = s.Out ?? throw new RepscopeException("--out RUN is required (the run directory to create)"),
            Resume = s.Resume,
            Given = s.Resume ? GivenParameters(context.Arguments) : null,
        };
        RunInfo info;
        try
        {
            info = terminal.WithProgress(p => Trainer.Train(options, p, cancellationToken));
        }
        catch (OperationCanceledException)
        {
            throw new RepscopeException($"training interrupted; continue it with: repscope train --out {s.Out} --resume");
        }
        catch (ResumeConflictException e)
        {
            var flags = e.Conflicts.Select(c => $"{FlagOf.First(f => f.Value == c.Parameter).Key} asks for {c.Parameter} {c.Asked}, the run has {c.Stored}");
            throw new RepscopeException($"{e.Folder}: --resume continues the run with its stored configuration, but {string.Join("; ", flags)}; leave the option out, or train a new run with another --out");
        }
        var c = info.Config;
        string source = c.DataSource == "full" ? "" : $" ({c.DataSource})";
        terminal.Note(string.Create(CultureInfo.InvariantCulture,
            $"{info.Architecture}, {info.ParameterCount:N0} parameters, {c.Data}{source}: {c.TrainExamples} train / {info.TestSet.Count} test examples, {info.Epochs.Count} epochs in {ProgressText.Duration(TimeSpan.FromSeconds(info.TrainSeconds))}"));
        terminal.Note(string.Create(CultureInfo.InvariantCulture, $"test accuracy {info.FinalTestAccuracy:P2}; run in {Path.GetFullPath(options.Out)}"));
        if (s.Json) { terminal.WriteLine(File.ReadAllText(Path.Combine(Path.GetFullPath(options.Out), RunFormat.RunFile))); }
        return 0;
    }

    /// <summary>The options that fix a run's configuration, and the training parameter each sets (<see cref="TrainOptions.ConflictsWith"/>).</summary>
    private static readonly Dictionary<string, string> FlagOf = new(StringComparer.Ordinal)
    {
        ["--depth"] = "depth", ["--width"] = "width", ["--no-residual"] = "residual", ["--data"] = "data",
        ["--train-fraction"] = "trainFraction", ["--train-examples"] = "trainExamples", ["--test-examples"] = "testExamples",
        ["--image-size"] = "imageSize", ["--cifar100-labels"] = "cifar100Labels", ["--epochs"] = "epochs", ["--batch-size"] = "batchSize",
        ["--lr"] = "lr", ["--weight-decay"] = "weightDecay", ["--momentum"] = "momentum", ["--warmup-epochs"] = "warmupEpochs",
        ["--no-augment"] = "augment", ["--no-flip"] = "flip", ["--seed"] = "seed",
    };

    /// <summary>The training parameters whose options appear on the command line (given explicitly, whatever their value).</summary>
    internal static IReadOnlySet<string> GivenParameters(IEnumerable<string> arguments) =>
        arguments.Where(a => a.StartsWith("--", StringComparison.Ordinal))
                 .Select(a => a.Split('=', 2)[0])
                 .Where(FlagOf.ContainsKey)
                 .Select(f => FlagOf[f])
                 .ToHashSet(StringComparer.Ordinal);
}
