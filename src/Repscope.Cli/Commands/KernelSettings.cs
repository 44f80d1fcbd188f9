using System.ComponentModel;
using Repscope.Similarity;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

/// <summary>The kernel options shared by the CKA commands (<c>cka</c>, <c>heatmap</c>).</summary>
public abstract class KernelSettings : CommandSettings
{
    [CommandOption("--kernel <KERNEL>")]
    [Description("linear or rbf.")]
    [DefaultValue(KernelKind.Linear)]
    public KernelKind Kernel { get; init; } = KernelKind.Linear;

    [CommandOption("--rbf-threshold <T>")]
    [Description("RBF bandwidth: sigma = T x sqrt(median squared distance).")]
    [DefaultValue(0.5)]
    public double RbfThreshold { get; init; } = 0.5;
}

/// <summary>
/// Estimator and batching, the same rule for <c>cka</c> and <c>heatmap</c> (<see cref="CkaPlan.Choose"/>, README):
/// --batch-size B: minibatch CKA; without it, whole data up to 4,096 rows, batches of 256 above.
/// </summary>
public abstract class CkaSettings : KernelSettings
{
    [CommandOption("--estimator <ESTIMATOR>")]
    [Description("biased or unbiased HSIC. Default: biased on whole data, unbiased in minibatches (the only one defined there).")]
    public HsicEstimator? Estimator { get; init; }

    [CommandOption("--batch-size <B>")]
    [Description("Minibatch CKA (paper Eq. 3, unbiased HSIC per batch): n rows in round(n/B) equal batches, none dropped. " +
                 "Default: whole data up to 4096 rows, batches of 256 above (unless --estimator biased).")]
    public int? BatchSize { get; init; }

    [CommandOption("--shuffle <SEED>")]
    [Description("Seed of the random row order the minibatches are cut from.")]
    [DefaultValue(CkaPlan.DefaultShuffleSeed)]
    public long Shuffle { get; init; } = CkaPlan.DefaultShuffleSeed;

    [CommandOption("--no-shuffle")]
    [Description("Cut minibatches from the rows in file order (the paper's code does); warns when the rows look sorted.")]
    public bool NoShuffle { get; init; }

    internal long? ShuffleSeed => NoShuffle ? null : Shuffle;

    public override Spectre.Console.ValidationResult Validate()
    {
        if (BatchSize is int b && b < 4)
        {
            return Spectre.Console.ValidationResult.Error($"--batch-size must be at least 4 (the unbiased HSIC needs 4 rows per batch), got {b}");
        }
        if (BatchSize is not null && Estimator == HsicEstimator.Biased)
        {
            return Spectre.Console.ValidationResult.Error("--batch-size computes minibatch CKA with the unbiased HSIC (paper Eq. 3); it cannot be combined with --estimator biased");
        }
        return Spectre.Console.ValidationResult.Success();
    }
}
