using System.Reflection;
using Spectre.Console.Cli;
using TorchSharp;

namespace Repscope.Cli.Commands;

/// <summary>
/// <c>repscope version</c>: Repscope's version and commit, TorchSharp's assembly version and the libtorch package the
/// build bundles (recorded at build time: touching <see cref="torch"/> would load libtorch, about half a second, for nothing).
/// </summary>
public sealed class VersionCommand(Terminal terminal) : Command
{
    /// <summary>The version of the libtorch-cpu package the CLI was built with (its AssemblyMetadata "libtorch").</summary>
    public static string LibTorchPackageVersion =>
        typeof(VersionCommand).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "libtorch")?.Value ?? "unknown";

    public override int Execute(CommandContext context, CancellationToken cancellationToken)
    {
        var (version, commit) = CommandProvenance.Build;
        terminal.WriteLine($"repscope {version}{(commit is null ? "" : $" (commit {commit})")}");
        terminal.WriteLine($"TorchSharp {typeof(torch).Assembly.GetName().Version}, libtorch {LibTorchPackageVersion}");
        return 0;
    }
}
