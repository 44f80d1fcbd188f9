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
