using Repscope.Cli;
using Repscope.Cli.Commands;
using Repscope.Reproduce;

namespace Repscope.Tests.Reproduce;

public sealed class ReproduceCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("repscope-reproduce-cmd-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Quick_runs_the_quick_grid_on_the_shipped_data_and_prints_the_findings()
    {
        var backend = new FakeBackend();
        var output = new StringWriter();
        var settings = new ReproduceCommand.Settings { Quick = true, Out = _dir };
        int code = ReproduceCommand.Run(settings, backend, new Terminal(output, new StringWriter()));
        Assert.Equal(0, code);
        Assert.Equal(ExperimentPlan.Quick().Runs.Select(r => r.Name).Order(), backend.TrainCalls.Select(c => c.Name).Order());
        string text = output.ToString();
        Assert.StartsWith($"{ExperimentPlan.Quick().Runs.Count} runs trained, 0 resumed, 0 reused (finished runs found in {Path.Combine(_dir, "runs")});", text);
        Assert.Contains("  held          ", text);
        Assert.Contains("                Block structure appears as networks get deeper.\n", text);
        Assert.Contains("  inconclusive  n/a\n", text); // the fake's seed comparison has no interval ...
        Assert.Contains("two seeds of one architecture learn different representations; outside, similar ones. (no interval: ", text); // ... and says why
        Assert.Contains($"report: {Path.Combine(_dir, "report.html")}", text);
        using var run = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "runs", ExperimentPlan.Quick().Runs[0].Name, "run.json")));
        Assert.Equal("fashion-mnist-small", run.RootElement.GetProperty("config").GetProperty("data").GetString());
        // The quick grid's recipe reaches the trainer: evaluation only at the end unless asked for.
        Assert.All(backend.Settings, t => Assert.Equal((64, false, false), (t.BatchSize, t.Augment, t.EvaluateEveryEpoch)));
        var every = new FakeBackend();
        ReproduceCommand.Run(new ReproduceCommand.Settings { Quick = true, Out = Path.Combine(_dir, "every"), TestEveryEpoch = true }, every, new Terminal(new StringWriter(), new StringWriter()));
        Assert.All(every.Settings, t => Assert.True(t.EvaluateEveryEpoch));
    }

    [Fact]
    public void Failed_steps_give_a_non_zero_exit_after_the_report_is_written()
    {
        var backend = new FakeBackend();
        backend.Fail.Add("prune");
        var captured = new StringWriter();
        int code = ReproduceCommand.Run(new ReproduceCommand.Settings { Quick = true, Out = _dir }, backend, new Terminal(new StringWriter(), captured));
        Assert.Equal(2, code);
        Assert.True(File.Exists(Path.Combine(_dir, "report.html")));
        Assert.Contains($"repscope: warning: prune {ExperimentPlan.Quick().ProbeAndPrune[0].Name}: ", captured.ToString());
        Assert.Contains("repscope: error: 2 step(s) failed; the report marks what they fed as not run; run again to retry them", captured.ToString());
    }

    [Fact]
    public void An_interrupted_reproduce_says_to_run_the_same_command_again()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        var e = Assert.Throws<RepscopeException>(() => ReproduceCommand.Run(new ReproduceCommand.Settings { Quick = true, Out = _dir }, new FakeBackend(),
                                                                              new Terminal(new StringWriter(), new StringWriter()), cancel: cancelled.Token));
        Assert.Equal("reproduce interrupted; run the same command again: finished runs are reused and the interrupted one resumes from its last epoch", e.Message);
    }
}
