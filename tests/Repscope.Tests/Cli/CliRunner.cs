using Repscope.Cli;

namespace Repscope.Tests.Cli;

/// <summary>Runs a command in-process through App.Run, as Program.cs does, with stdout and stderr captured in string writers.</summary>
internal static class CliRunner
{
    public sealed record Outcome(int ExitCode, string Out, string Err)
    {
        public string ErrorLine => Assert.Single(Err.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("repscope: error:"));
    }

    public static Outcome Run(params string[] args)
    {
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        int code = App.Run(args, new Terminal(stdout, stderr));
        return new Outcome(code, stdout.ToString(), stderr.ToString());
    }

    public static string TempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"repscope-cli-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }
}
