using Repscope.Data;

namespace Repscope.Training;

/// <summary>Everything <see cref="Trainer.Train"/> needs. Defaults are the paper's recipe (SGD, momentum 0.9,
/// batch 128, cosine decay, weight decay, crop + flip) sized to finish in minutes on 2 cores.</summary>
public sealed record TrainOptions
{
    public const int DefaultEpochs = 5;
    /// <summary>The command's cap on the training-set size when neither --train-examples nor --train-fraction is given: the
    /// size of the shipped split, so a default run is the same whether or not the full Fashion-MNIST is installed, and takes minutes.</summary>
    public const long DefaultTrainExamples = 8000;
    public const double DefaultLr = 0.1;
    public const double DefaultWeightDecay = 5e-4;
    public const double DefaultWarmupEpochs = 1;

    public int Depth { get; init; } = 20;
    public double Width { get; init; } = 1;
    public bool Residual { get; init; } = true;
    public DataSpec Data { get; init; } = new();
    public int Epochs { get; init; } = DefaultEpochs;
    public int BatchSize { get; init; } = 128;
    public double Lr { get; init; } = DefaultLr;
    public double WeightDecay { get; init; } = DefaultWeightDecay;
    public double Momentum { get; init; } = 0.9;
    /// <summary>Epochs of linear learning-rate warm-up before the cosine decay (0 = none; fractions allowed).</summary>
    public double WarmupEpochs { get; init; } = DefaultWarmupEpochs;
    /// <summary>Random crop with padding 4 (and flips, unless <see cref="Flip"/> is off).</summary>
    public bool Augment { get; init; } = true;
    public bool Flip { get; init; } = true;
    /// <summary>Evaluate on the test set after every epoch (a learning curve of test accuracy); off: only after the last epoch, which saves the evaluation's cost on small training sets. The training loss and accuracy are recorded every epoch either way.</summary>
    public bool EvaluateEveryEpoch { get; init; } = true;
    public int Seed { get; init; } = 1;
    /// <summary>CPU threads for libtorch; 0 = one per core (on --resume: the run's own count). Results are bit-identical only for the same thread count.</summary>
    public int Threads { get; init; }
    /// <summary>The run directory.</summary>
    public string Out { get; init; } = "";
    /// <summary>Continue the unfinished run in <see cref="Out"/> with its stored configuration (the other options are ignored).</summary>
    public bool Resume { get; init; }

    public void Validate()
    {
        Models.ResNet.CheckDepthAndWidth(Depth, Width);
        if (string.IsNullOrWhiteSpace(Out)) { throw new RepscopeException("--out RUN is required"); }
        if (Epochs < 1) { throw new RepscopeException($"--epochs must be at least 1, got {Epochs}"); }
        if (BatchSize < 2) { throw new RepscopeException($"--batch-size must be at least 2 (batch norm), got {BatchSize}"); }
        if (!(Lr > 0) || double.IsInfinity(Lr)) { throw new RepscopeException($"--lr must be positive, got {Lr}"); }
        if (!(WeightDecay >= 0) || double.IsInfinity(WeightDecay)) { throw new RepscopeException($"--weight-decay must be >= 0, got {WeightDecay}"); }
        if (!(Momentum >= 0 && Momentum < 1)) { throw new RepscopeException($"--momentum must be in [0, 1), got {Momentum}"); }
        if (!(WarmupEpochs >= 0) || double.IsInfinity(WarmupEpochs)) { throw new RepscopeException($"--warmup-epochs must be >= 0, got {WarmupEpochs}"); }
        if (Threads < 0) { throw new RepscopeException($"--threads must be >= 0, got {Threads}"); }
        Data.Validate();
    }
}
