using Repscope.Cli.Commands;
using Spectre.Console.Cli;

namespace Repscope.Tests.Cli;

/// <summary>Tests that swap Console.Out / Console.Error run alone, never beside another test.</summary>
[CollectionDefinition("Console", DisableParallelization = true)]
public sealed class ConsoleCollection;

/// <summary>Runs a command in-process through Cli.Run, as Program.cs does, capturing stdout and stderr.</summary>
internal static class CliRunner
{
    public sealed record Outcome(int ExitCode, string Out, string Err)
    {
        public string ErrorLine => Assert.Single(Err.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("repscope: error:"));
    }

    public static Outcome Run(params string[] args)
    {
        var app = new CommandApp();
        app.Configure(config =>
        {
            config.SetApplicationName("repscope");
            config.PropagateExceptions();
            config.AddCommand<CkaCommand>("cka");
            config.AddCommand<HeatmapCommand>("heatmap");
            config.AddCommand<TapsCommand>("taps");
            config.AddCommand<ExportCommand>("export");
            config.AddCommand<LayersCommand>("layers");
            config.AddCommand<CompareCommand>("compare");
        });
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        Environment.SetEnvironmentVariable("REPSCOPE_PLAIN_PROGRESS", "1");
        Console.SetOut(stdout);
        Console.SetError(stderr);
        try
        {
            int code = Repscope.Cli.Cli.Run(app, args);
            return new Outcome(code, stdout.ToString(), stderr.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }

    public static string TempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"repscope-cli-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }
}
