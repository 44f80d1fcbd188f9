using System.Text.Json.Serialization;

namespace Repscope.Runs;

/// <summary>
/// The contents of run.json (format "repscope-run/1"; see docs/ARCHITECTURE.md). Read and written only through
/// <see cref="RunFormat"/>, which validates every field on read.
/// </summary>
public sealed record RunInfo
{
    public string Format { get; init; } = RunFormat.Version;
    /// <summary><see cref="RunState.Training"/> while partial, <see cref="RunState.Finished"/> only when every file of the run exists.</summary>
    public RunState State { get; init; } = RunState.Training;
    public RunConfig Config { get; init; } = new();
    public string Architecture { get; init; } = "";
    public long ParameterCount { get; init; }
    public DataSetInfo TrainSet { get; init; } = new();
    public DataSetInfo TestSet { get; init; } = new();
    public NormalisationInfo Normalisation { get; init; } = new();
    public IReadOnlyList<EpochMetrics> Epochs { get; init; } = [];
    public double? FinalTestAccuracy { get; init; }
    public double TrainSeconds { get; init; }
    public Provenance Provenance { get; init; } = new();
    /// <summary>SHA-256 (hex) of each file the finished run promises (<see cref="RunFormat.FinishedFiles"/>), checked when the
    /// file is loaded. Empty while training, and in runs written before Repscope recorded them (nothing to check then).</summary>
    public IReadOnlyDictionary<string, string> Files { get; init; } = new Dictionary<string, string>();
}

/// <summary>The whole configuration of a run: enough to rebuild the model and reload its data.</summary>
public sealed record RunConfig
{
    public int Depth { get; init; } = TrainingDefaults.Depth;
    public double Width { get; init; } = TrainingDefaults.Width;
    public bool Residual { get; init; } = true;
    /// <summary>Data set name as given to --data: "fashion-mnist", "fashion-mnist-small", "mnist", "cifar10", "cifar100", "folder".</summary>
    public string Data { get; init; } = "fashion-mnist";
    /// <summary>"full", "test-split-only" (the shipped Fashion-MNIST test split, 8,000 / 2,000), "folder-split".</summary>
    public string DataSource { get; init; } = "full";
    /// <summary>The folder the data was read from.</summary>
    public string DataPath { get; init; } = "";
    /// <summary>Fraction of the training split trained on (actual: trainExamples / trainSplitSize).</summary>
    public double TrainFraction { get; init; } = 1;
    /// <summary>Number of training examples actually used.</summary>
    public long TrainExamples { get; init; }
    /// <summary>Size of the whole training split.</summary>
    public long TrainSplitSize { get; init; }
    /// <summary>What the user asked for: --train-fraction / --train-examples (null when not given).</summary>
    public double? RequestedTrainFraction { get; init; }
    public long? RequestedTrainExamples { get; init; }
    /// <summary>The default cap on the training-set size applied when neither was given (null: none).</summary>
    public long? TrainExamplesCap { get; init; }
    /// <summary>--test-examples (null: the whole test split).</summary>
    public long? TestExamples { get; init; }
    public int ImageSize { get; init; } = 32;
    public string Cifar100Labels { get; init; } = "fine";
    public int Epochs { get; init; }
    public int BatchSize { get; init; } = TrainingDefaults.BatchSize;
    public double Lr { get; init; }
    public double WeightDecay { get; init; }
    public double Momentum { get; init; } = TrainingDefaults.Momentum;
    /// <summary>Linear warm-up over <see cref="WarmupEpochs"/>, then cosine decay to 0, updated every step.</summary>
    public string Schedule { get; init; } = "warmup-cosine-per-step";
    public double WarmupEpochs { get; init; }
    /// <summary>Test-set evaluation after every epoch (false: after the last one only).</summary>
    public bool EvaluateEveryEpoch { get; init; } = true;
    public bool Augment { get; init; } = true;
    public bool Flip { get; init; } = true;
    public int CropPadding { get; init; } = TrainingDefaults.CropPadding;
    public int Seed { get; init; } = TrainingDefaults.Seed;
}

public sealed record DataSetInfo
{
    public string Data { get; init; } = "";
    public long Count { get; init; }
    public int Classes { get; init; }
    public IReadOnlyList<string> ClassNames { get; init; } = [];
    public int Channels { get; init; }
    public int Height { get; init; }
    public int Width { get; init; }
    public string Fingerprint { get; init; } = "";
}

public sealed record NormalisationInfo
{
    public double[] Mean { get; init; } = [];
    public double[] Std { get; init; } = [];
    /// <summary>How the statistics were computed.</summary>
    public string Note { get; init; } = "per-channel mean and std of the whole training split, pixels scaled to [0, 1]";
}

public sealed record EpochMetrics
{
    public int Epoch { get; init; }
    public double TrainLoss { get; init; }
    public double TrainAccuracy { get; init; }
    /// <summary>Test loss and accuracy after this epoch; null when the run evaluates only after its last epoch (<see cref="RunConfig.EvaluateEveryEpoch"/>).</summary>
    public double? TestLoss { get; init; }
    public double? TestAccuracy { get; init; }
    public double Lr { get; init; }
    public double Seconds { get; init; }
    public double ImagesPerSecond { get; init; }
}

public sealed record Provenance
{
    public string Repscope { get; init; } = "";
    public string TorchSharp { get; init; } = "";
    public string Libtorch { get; init; } = "";
    public string Machine { get; init; } = "";
    /// <summary>The processor and its widest vector instructions (<see cref="CpuKernels.Cpu"/>); empty in runs written before Repscope recorded it.</summary>
    public string Cpu { get; init; } = "";
    /// <summary>The settings that capped libtorch's kernels (<see cref="CpuKernels.Settings"/>); empty when none was set.</summary>
    public string KernelSettings { get; init; } = "";
    public int Threads { get; init; }
    public DateTimeOffset Started { get; init; }
    public DateTimeOffset? Finished { get; init; }
    /// <summary>Number of times the run was continued with --resume.</summary>
    public int Resumes { get; init; }

    [JsonIgnore]
    public static string MachineDescription =>
        $"{Environment.MachineName}, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, {Environment.ProcessorCount} cores, .NET {Environment.Version}";
}
