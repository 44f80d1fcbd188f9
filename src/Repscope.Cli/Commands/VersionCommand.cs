using Spectre.Console.Cli;
using TorchSharp;

namespace Repscope.Cli.Commands;

public sealed class VersionCommand : Command
{
    public override int Execute(CommandContext context, CancellationToken cancellationToken)
    {
        Console.WriteLine($"repscope {typeof(Repscope.RepscopeException).Assembly.GetName().Version}");
        Console.WriteLine($"TorchSharp {typeof(torch).Assembly.GetName().Version}, libtorch {torch.__version__}");
        return 0;
    }
}
