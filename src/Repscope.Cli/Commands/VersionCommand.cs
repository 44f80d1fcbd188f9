using Spectre.Console.Cli;
using TorchSharp;

namespace Repscope.Cli.Commands;

public sealed class VersionCommand(Terminal terminal) : Command
{
    public override int Execute(CommandContext context, CancellationToken cancellationToken)
    {
        terminal.WriteLine($"repscope {typeof(Repscope.RepscopeException).Assembly.GetName().Version}");
        terminal.WriteLine($"TorchSharp {typeof(torch).Assembly.GetName().Version}, libtorch {torch.__version__}");
        return 0;
    }
}
