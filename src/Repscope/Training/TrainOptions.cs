using Repscope.Data;
using Repscope.Runs;

namespace Repscope.Training;

/// <summary>Everything <see cref="Trainer.Train"/> needs. Defaults: <see cref="TrainingDefaults"/>.</summary>
public sealed record TrainOptions
{
    public int Depth { get; init; } = TrainingDefaults.Depth;
    public double Width { get; init; } = TrainingDefaults.Width;
    public bool Residual { get; init; } = true;
    public DataSpec Data { get; init; } = new();
    public int Epochs { get; init; } = TrainingDefaults.Epochs;
    public int BatchSize { get; init; } = TrainingDefaults.BatchSize;
    public double Lr { get; init; } = TrainingDefaults.Lr;
    public double WeightDecay { get; init; } = TrainingDefaults.WeightDecay;
    public double Momentum { get; init; } = TrainingDefaults.Momentum;
    /// <summary>Epochs of linear learning-rate warm-up before the cosine decay (0 = none; fractions allowed).</summary>
    public double WarmupEpochs { get; init; } = TrainingDefaults.WarmupEpochs;
    /// <summary>Random crop with padding 4 (and flips, unless <see cref="Flip$"/> is off).</summary>
    public bool Augment { get; init; } = true;
    public bool Flip { get; init; } = true;
    /// <summary>Evaluate on the test set after every epoch (a learning curve of test accuracy); off: only after the last epoch, which saves the evaluation's cost on small training sets. The training loss and accuracy are recorded every epoch either way.</summary>
    public bool EvaluateEveryEpoch { get; init; } = true;
    public int Seed { get; init; } = TrainingDefaults.Seed;
    /// <summary>CPU threads for libtorch; 0 = one per core (on --resume: the run's own count). Results are bit-identical only for the same thread count.</summary>
    public int Threads { get; init; }
    /// <summary>The run directory.</summary>
    public string Out { get; init; } = "";
    /// <summary>Continue the unfinished run in <see cref="Out"/> with its stored configuration. An option that contradicts
    /// the stored configuration is refused (<see cref="ResumeConflictException"/>), never silently ignored.</summary>
    public bool Resume { get; init; }
    /// <summary>On <see cref="Resume"/>: the options the caller chose explicitly (names as in <see cref="ConflictsWith"/>),
    /// the only ones checked against the stored configuration; null: all of them (a library caller passes the whole recipe).</summary>
    public IReadOnlySet<string>? Given { get; init; }

    /// <summary>Continue the unfinished run in <paramref name="runDir"/> exactly as it was configured (no option given).</summary>
    public static TrainOptions ResumeOf(string runDir) => new() { Out = runDir, Resume = true, Given = new HashSet<string>() };
    /// <summary>Refuse to train when the estimated memory exceeds this many bytes; null: the memory available to the process.</summary>
    public long? MemoryLimitBytes { get; init; }

    /// <summary>
    /// The options (among <see cref="Given"/>) whose value differs from the stored configuration <paramref name="c"/>
    /// of a run being resumed, as (parameter, value asked for, value of the run). Threads and the data folder may
    /// differ (the data are checked by their fingerprint instead).
    /// </summary>
    public IReadOnlyList<ResumeConflict> ConflictsWith(RunConfig c)
    {
        var all = new List<ResumeConflict>();
        void Check<T>(string name, T asked, T stored)
        {
            if (!EqualityComparer<T>.Default.Equals(asked, stored) && (Given is null || Given.Contains(name)))
            {
                all.Add(new ResumeConflict(name, Text(asked), Text(stored)));
            }
        }
        Check("depth", Depth, c.Depth);
        Check("width", Width, c.Width);
        Check("residual", Residual, c.Residual);
        Check("data", DataSpec.NameOf(Data.Name), c.Data);
        Check("trainFraction", Data.TrainFraction, c.RequestedTrainFraction);
        Check("trainExamples", Data.TrainExamples, c.RequestedTrainExamples);
        Check("testExamples", Data.TestExamples, c.TestExamples);
        Check("imageSize", Data.ImageSize, c.ImageSize);
        Check("cifar100Labels", Data.Cifar100Labels == Cifar100Labels.Coarse ? "coarse" : "fine", c.Cifar100Labels);
        Check("epochs", Epochs, c.Epochs);
        Check("batchSize", BatchSize, c.BatchSize);
        Check("lr", Lr, c.Lr);
        Check("weightDecay", WeightDecay, c.WeightDecay);
        Check("momentum", Momentum, c.Momentum);
        Check("warmupEpochs", WarmupEpochs, c.WarmupEpochs);
        Check("augment", Augment, c.Augment);
        Check("flip", Flip, c.Flip);
        Check("seed", Seed, c.Seed);
        return all;
    }

    private static string Text<T>(T value) => value switch
    {
        null => "(not given)",
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    public void Validate()
    {
        Models.ResNetShape.CheckDepthAndWidth(Depth, Width);
        if (string.IsNullOrWhiteSpace(Out)) { throw new RepscopeException($"{RepscopeException.Option("out")} RUN is required"); }
        if (Epochs < 1) { throw new RepscopeException($"{RepscopeException.Option("epochs")} must be at least 1, got {Epochs}"); }
        if (BatchSize < 2) { throw new RepscopeException($"{RepscopeException.Option("batchSize")} must be at least 2 (batch norm), got {BatchSize}"); }
        if (!(Lr > 0) || double.IsInfinity(Lr)) { throw new RepscopeException($"{RepscopeException.Option("lr")} must be positive, got {Lr}"); }
        if (!(WeightDecay >= 0) || double.IsInfinity(WeightDecay)) { throw new RepscopeException($"{RepscopeException.Option("weightDecay")} must be >= 0, got {WeightDecay}"); }
        if (!(Momentum >= 0 && Momentum < 1)) { throw new RepscopeException($"{RepscopeException.Option("momentum")} must be in [0, 1), got {Momentum}"); }
        if (!(WarmupEpochs >= 0) || double.IsInfinity(WarmupEpochs)) { throw new RepscopeException($"{RepscopeException.Option("warmupEpochs")} must be >= 0, got {WarmupEpochs}"); }
        if (Threads < 0) { throw new RepscopeException($"{RepscopeException.Option("threads")} must be >= 0, got {Threads}"); }
        Data.Validate();
    }
}

/// <summary>An option asked for when resuming a run that differs from the run's stored configuration.</summary>
public sealed record ResumeConflict(string Parameter, string Asked, string Stored);

/// <summary>Resuming a run with options that contradict its stored configuration (the first conflict names the parameter).</summary>
public sealed class ResumeConflictException(string folder, IReadOnlyList<ResumeConflict> conflicts)
    : RepscopeException($"{folder}: resuming keeps the run's stored configuration, but {Describe(conflicts)}; leave {(conflicts.Count == 1 ? "it" : "them")} out, or train a new run in another folder")
{
    public string Folder { get; } = folder;
    public IReadOnlyList<ResumeConflict> Conflicts { get; } = conflicts;

    private static string Describe(IReadOnlyList<ResumeConflict> c) =>
        string.Join(", ", c.Select(x => $"{x.Parameter} {x.Asked} was asked for (the run has {x.Stored})"));
}
