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

    /// <summary>
    /// Runs the built CLI as a user does, in a child process (<c>dotnet Repscope.Cli.dll ARGS</c> in
    /// <paramref name="workingDirectory"/>), with stdout and stderr on pipes and plain progress lines;
    /// <paramref name="env"/> adds or overrides environment variables.
    /// </summary>
    public static Outcome RunProcess(string workingDirectory, IReadOnlyDictionary<string, string>? env, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Repscope.Cli.dll"));
        foreach (string a in args) { psi.ArgumentList.Add(a); }
        psi.Environment["REPSCOPE_PLAIN_PROGRESS"] = "1";
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) { psi.Environment[k] = v; }
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return new Outcome(p.ExitCode, stdout.Result, stderr);
    }

    public static string TempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"repscope-cli-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }
}
