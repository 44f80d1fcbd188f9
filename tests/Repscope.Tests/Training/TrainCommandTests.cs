using Repscope.Cli.Commands;
using Repscope.Runs;
using Repscope.Tests.Cli;
using Repscope.Tests.Runs;
using Repscope.Tests.Data;

namespace Repscope.Tests.Training;

/// <summary>`repscope train` and `repscope runs` end to end, in-process, every command registered as Program.cs does.</summary>
public class TrainCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = CliRunner.Run(args);
        return (o.ExitCode, o.Out, o.Err);
    }

    [Fact]
    public void TrainsAListableRunAndRejectsBadInputWithOneLine()
    {
        using var dir = new TempDir();
        string data = dir.File("quad");
        DataFiles.WriteIdxDataSet(data, DataFiles.Quadrants(64, 8, 1), DataFiles.Quadrants(32, 8, 2));
        string run = Path.Combine(dir.Path, "runs", "r8");
        var ok = Run("train", "--depth", "8", "--width", "0.25", "--data", $"mnist:{data}", "--train-fraction", "1",
                     "--epochs", "2", "--batch-size", "16", "--threads", "1", "--out", run, "--json");
        Assert.True(ok.Code == 0, ok.Err);
        Assert.Contains("epoch 2/2: done", ok.Err);
        Assert.Contains("test acc", ok.Err);
        Assert.Contains("\"state\": \"finished\"", ok.Out);

        var list = Run("runs", Path.Combine(dir.Path, "runs"), "--json");
        Assert.Equal(0, list.Code);
        Assert.Contains("\"run\": \"r8\"", list.Out);
        Assert.Contains("\"state\": \"finished\"", list.Out);
        Assert.Contains("ResNet-8 (width 0.25)", list.Out);

        var again = Run("train", "--depth", "8", "--data", $"mnist:{data}", "--out", run);
        Assert.Equal(2, again.Code);
        Assert.Contains("already holds a finished run", again.Err);

        var badDepth = Run("train", "--depth", "9", "--data", $"mnist:{data}", "--out", Path.Combine(dir.Path, "x"));
        Assert.Equal(2, badDepth.Code);
        Assert.Equal("repscope: error: depth 9 is not 6n+2 with n >= 1 (use 8, 14, 20, 26, 32, 38, 44, 56, 62, 110, ...)", badDepth.Err.Trim().Split('\n')[^1]);

        var noData = Run("train", "--data", $"cifar10:{dir.File("none")}", "--out", Path.Combine(dir.Path, "y"));
        Assert.Equal(2, noData.Code);
        Assert.Contains("data set 'cifar10' not found", noData.Err);
        Assert.DoesNotContain("   at ", noData.Err);
    }

    /// <summary>Issue 15, hostile 8 and 5: --resume with a contradicting option is refused naming it; `runs` lists a broken run and carries on.</summary>
    [Fact]
    public void ResumeRefusesAContradictingOptionAndRunsListsABrokenRun()
    {
        using var dir = new TempDir();
        string run = Path.Combine(dir.Path, "runs", "partial");
        RunFormat.Write(run, SampleRuns.Info(RunState.Training, epochs: 2));
        byte[] before = File.ReadAllBytes(Path.Combine(run, RunFormat.RunFile));
        var conflict = Run("train", "--out", run, "--resume", "--epochs", "9", "--seed", "1");
        Assert.Equal(2, conflict.Code);
        Assert.Equal($"repscope: error: {run}: --resume continues the run with its stored configuration, but --epochs asks for epochs 9, the run has 2; leave the option out, or train a new run with another --out",
                     conflict.Err.Trim().Split('\n')[^1]);
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(run, RunFormat.RunFile)));
        Assert.Equal(new HashSet<string> { "epochs", "residual", "batchSize" },
                     TrainCommand.GivenParameters(["train", "--epochs", "9", "--no-residual", "--batch-size=4", "--out", "x", "--threads", "2"]));

        string broken = Path.Combine(dir.Path, "runs", "broken");
        RunFormat.Write(broken, SampleRuns.Info());
        File.WriteAllText(Path.Combine(broken, RunFormat.RunFile), File.ReadAllText(Path.Combine(broken, RunFormat.RunFile)).Replace("\"config\": {", "\"config\": null, \"x\": {"));
        var list = Run("runs", Path.Combine(dir.Path, "runs"), "--json");
        Assert.Equal(0, list.Code);
        var rows = System.Text.Json.JsonDocument.Parse(list.Out).RootElement.EnumerateArray().ToList();
        Assert.Equal(["broken", "partial"], rows.Select(r => r.GetProperty("run").GetString()));
        Assert.Equal(["broken", "partial"], rows.Select(r => r.GetProperty("state").GetString()));
        Assert.Contains("config is missing or null", rows[0].GetProperty("problem").GetString());
    }
}
