using System.Text.Json;
using Repscope.Reporting;
using Repscope.Reproduce;
using Repscope.Runs;
using Repscope.Tests.Reporting;

namespace Repscope.Tests.Reproduce;

public sealed class ReproducerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("repscope-reproduce-").FullName;
    private static readonly TrainingSettings Settings = new("fashion-mnist", null);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A grid of a few tiny specs covering every experiment (the fake backend makes it take milliseconds).</summary>
    internal static ExperimentPlan TinyPlan()
    {
        RunSpec R(int depth, double width, int n = 200, bool residual = true, int seed = 1) => new(depth, width, residual, n, 2, seed);
        return new ExperimentPlan(GridScale.Quick,
            DepthRow: [R(8, 1), R(32, 1)],
            WidthRow: [R(8, 1), R(8, 2)],
            LessDataRow: [R(8, 1, 50)],
            NoResidual: (R(8, 1), R(8, 1, residual: false)),
            SeedPair: (R(8, 2), R(8, 2, seed: 2)),
            ProbeAndPrune: [R(8, 2), R(8, 1)],
            ErrorsDeep: [.. Enumerable.Range(1, 4).Select(s => R(14, 1, seed: s))],
            ErrorsWide: [.. Enumerable.Range(1, 4).Select(s => R(8, 2, seed: s))]);
    }

    private ReproduceOptions Options() => new(GridScale.Quick, _dir, Settings, TinyPlan());

    [Fact]
    public void First_call_trains_everything_second_call_trains_nothing()
    {
        var backend = new FakeBackend();
        var plan = TinyPlan();
        var first = new Reproducer(backend).Run(Options());
        Assert.Equal(plan.Runs.Count, first.Trained);
        Assert.Equal(0, first.Reused);
        Assert.Empty(first.Failures);
        Assert.Equal(plan.Runs.Select(r => r.Name).Order(), backend.TrainCalls.Select(c => c.Name).Order());
        Assert.All(backend.TrainCalls, c => Assert.False(c.Resume));
        Assert.True(File.Exists(first.ReportPath));

        var again = new FakeBackend();
        var second = new Reproducer(again).Run(Options());
        Assert.Empty(again.TrainCalls);
        Assert.Equal((0, 0, plan.Runs.Count), (second.Trained, second.Resumed, second.Reused));
        Assert.NotEmpty(again.AnalysisCalls); // the analyses and the report are redone from the finished runs
    }

    [Fact]
    public void A_crashed_run_is_reported_and_resumed_on_the_next_call()
    {
        var plan = TinyPlan();
        var victim = plan.SeedPair.B;
        var backend = new FakeBackend();
        backend.CrashOnce.Add(victim.Name);
        var first = new Reproducer(backend).Run(Options());
        Assert.Equal(plan.Runs.Count - 1, first.Trained);
        Assert.Contains(first.Failures, f => f.StartsWith($"training {victim.Name}: ", StringComparison.Ordinal) && f.Contains("simulated crash"));
        Assert.Equal(RunState.Training, PlannedRun.Inspect(Path.Combine(_dir, "runs", victim.Name), victim));
        // What needs the crashed run is not run; the rest of the report is there.
        var seeds = first.Findings.Single(f => f.SectionId == "seeds");
        Assert.Equal(Verdict.Inconclusive, seeds.Verdict);
        Assert.Equal("the seed comparison was not run", seeds.Reason);
        Assert.Equal(Verdict.Held, first.Findings.Single(f => f.SectionId == "no-residual").Verdict);
        string html = File.ReadAllText(first.ReportPath);
        Assert.Contains($"cross-seed CKA: not run: training of {victim.Name} failed", html);

        var second = new FakeBackend();
        var summary = new Reproducer(second).Run(Options());
        Assert.Equal([(victim.Name, true)], second.TrainCalls);
        Assert.Equal((0, 1, plan.Runs.Count - 1), (summary.Trained, summary.Resumed, summary.Reused));
        Assert.Empty(summary.Failures);
        Assert.Equal(Verdict.Inconclusive, summary.Findings.Single(f => f.SectionId == "seeds").Verdict); // measured, but the fake keeps no bootstrap
        Assert.StartsWith("no interval", summary.Findings.Single(f => f.SectionId == "seeds").Reason);
    }

    [Fact]
    public void Report_shows_the_depth_and_width_block_models_under_four_measures_with_the_numbers()
    {
        var fake = new FakeBackend();
        var summary = new Reproducer(fake).Run(Options());
        var plan = TinyPlan();
        Assert.Equal([plan.DepthRow[^1].Name, plan.WidthRow[^1].Name], fake.MeasureCalls);
        string html = File.ReadAllText(summary.ReportPath);
        Assert.Contains("<section class=\"experiment\" id=\"measures\">", html);
        foreach (var s in new[] { plan.DepthRow[^1], plan.WidthRow[^1] })
        {
            foreach (string m in new[] { "linear-cka", "rbf-cka", "svcca", "procrustes" })
            {
                string json = Path.Combine(_dir, "figures", $"measures-{s.Name}-{m}.json");
                Assert.True(File.Exists(json), json);
            }
        }
        // The fake plants a block in both models: every measure finds it, and the sentence says so in numbers.
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(html, "is found under 4 of 4 measures").Count);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "figures", $"measures-{plan.WidthRow[^1].Name}-svcca.json")));
        var data = doc.RootElement.GetProperty("data");
        Assert.Equal("svcca", data.GetProperty("measure").GetString());
        Assert.Equal(1.0, data.GetProperty("values")[0][0].GetDouble());
    }

    /// <summary>Issue 15, item 11: a build from a git checkout records its commit (the report and every cka.json show it).</summary>
    [SkippableFact]
    public void A_build_from_a_git_checkout_records_its_full_commit()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !Directory.Exists(Path.Combine(dir.FullName, ".git")) && !File.Exists(Path.Combine(dir.FullName, ".git")))
        {
            dir = dir.Parent;
        }
        Skip.If(dir is null, "built outside a git checkout: there is no commit to record");
        Assert.Matches("^[0-9a-f]{40}$", CommandProvenance.Build.GitCommit ?? "(none)");
    }

    [Fact]
    public void Report_has_every_experiment_and_the_findings_follow_the_results()
    {
        var summary = new Reproducer(new FakeBackend()).Run(Options());
        string html = File.ReadAllText(summary.ReportPath);
        foreach (string id in new[] { "models", "width", "depth", "less-data", "no-residual", "seeds", "first-component", "probes", "pruning", "errors" })
        {
            Assert.Contains($"<section class=\"experiment\" id=\"{id}\">", html);
        }
        Assert.Equal(9, summary.Findings.Count);
        // The fake makes every phenomenon appear with a little seed-to-seed variation: every claim with an interval holds
        // (the seed claim has no interval in the fake: inconclusive, and says so).
        Assert.All(summary.Findings.Where(f => f.SectionId != "seeds"), f => Assert.True(f.Verdict == Verdict.Held, $"{f.Claim}: {f.Measured}: {f.Reason}"));
        Assert.Contains(summary.Findings, f => f.Measured.StartsWith("CKA between the same layer of seeds 1 and 2: 0.400 inside", StringComparison.Ordinal));
        Assert.Contains("Model: ResNet-8 (width 2); data: fashion-mnist, 200 training images, 2 epochs; seed: 1.", html);
        // Issue 15, item 11: the report records the build's git commit, not only an assembly version.
        var (version, commit) = CommandProvenance.Build;
        Assert.Contains(commit is null ? $"<dt>repscope</dt><dd>{version}</dd>" : $"<dt>repscope</dt><dd>{version}, commit {commit}</dd>", html);
        Assert.DoesNotContain("1.0.0.0", html);
        Assert.Contains("<figure class=\"forest\"><img alt=", html);
        Assert.True(html.IndexOf("class=\"forest\"", StringComparison.Ordinal) < html.IndexOf("<table>", StringComparison.Ordinal)); // the forest plot first

        // Without block structure, the block claims did not hold (their intervals exclude the paper's effect), and the
        // claims that need a block in the probed model are inconclusive for want of it.
        var flat = new FakeBackend { NoBlocks = true };
        var none = new Reproducer(flat).Run(Options());
        foreach (string id in new[] { "width", "depth", "less-data", "no-residual" })
        {
            var f = none.Findings.Single(f => f.SectionId == id);
            Assert.True(f.Verdict == Verdict.NotHeld, $"{id}: {f.Reason}");
        }
        foreach (string id in new[] { "seeds", "first-component", "probes", "pruning" })
        {
            var f = none.Findings.Single(f => f.SectionId == id);
            Assert.Equal(Verdict.Inconclusive, f.Verdict);
            Assert.StartsWith("precondition absent: ", f.Reason);
        }

        // The JSON behind every figure and the findings are written beside the report.
        int figures = System.Text.RegularExpressions.Regex.Matches(html, "<figure id=").Count;
        Assert.Equal(figures, Directory.GetFiles(Path.Combine(_dir, "figures"), "*.json").Length);
        using var findings = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "findings.json")));
        var first = findings.RootElement.GetProperty("findings")[0];
        Assert.Equal(9, findings.RootElement.GetProperty("findings").GetArrayLength());
        Assert.Equal("not-held", first.GetProperty("verdict").GetString());
        foreach (string key in new[] { "effect", "ciLow", "ciHigh", "seeds", "verdict", "reason", "paperEffect", "method" })
        {
            Assert.True(first.TryGetProperty(key, out _), key);
        }
        Assert.Equal(2, first.GetProperty("seeds").GetInt32());
        using var heat = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "figures", $"depth-cka-{TinyPlan().DepthRow[1].Name}.json")));
        Assert.Equal(1.0, heat.RootElement.GetProperty("data").GetProperty("cka")[0][0].GetDouble());
    }

    [Fact]
    public void A_failing_analysis_leaves_its_experiment_not_run_and_the_rest_done()
    {
        var backend = new FakeBackend();
        backend.Fail.Add("probe");
        var summary = new Reproducer(backend).Run(Options());
        Assert.Equal(Verdict.Inconclusive, summary.Findings.Single(f => f.SectionId == "probes").Verdict);
        Assert.Equal($"{TinyPlan().ProbeAndPrune[0].Name} was not probed", summary.Findings.Single(f => f.SectionId == "probes").Reason);
        Assert.Equal(Verdict.Held, summary.Findings.Single(f => f.SectionId == "pruning").Verdict);
        Assert.Equal(2, summary.Failures.Count(f => f.Contains("simulated probe failure")));
        Assert.Contains("simulated probe failure", File.ReadAllText(summary.ReportPath));
    }

    [Fact]
    public void An_untrained_model_is_left_out_of_the_findings_and_named()
    {
        var plan = TinyPlan();
        var backend = new FakeBackend();
        backend.Untrained.Add(plan.SeedPair.B.Name);
        var summary = new Reproducer(backend).Run(Options());
        // The seed comparison needs the untrained run: inconclusive; the rest still holds.
        Assert.Equal(Verdict.Inconclusive, summary.Findings.Single(f => f.SectionId == "seeds").Verdict);
        Assert.Equal(Verdict.Held, summary.Findings.Single(f => f.SectionId == "no-residual").Verdict);
        Assert.Contains("Left out of the findings because they did not train (test accuracy below half the best model&#39;s): ResNet-8 (width 2) seed 2 (0.100).",
                        File.ReadAllText(summary.ReportPath));
    }

    [Fact]
    public void A_run_folder_holding_another_configuration_is_refused()
    {
        var plan = TinyPlan();
        var spec = plan.DepthRow[0];
        string runDir = Path.Combine(_dir, "runs", spec.Name);
        RunFormat.Write(runDir, FakeBackend.RunJson(spec with { Depth = 14 }, Settings, RunState.Finished));
        var e = Assert.Throws<RepscopeException>(() => new Reproducer(new FakeBackend()).Run(Options()));
        Assert.Equal($"{Path.Combine(runDir, "run.json")}: depth is 14, the plan wants 8 for {spec.Name}; move the folder away or choose another out", e.Message);

        RunFormat.Write(runDir, FakeBackend.RunJson(spec, Settings, RunState.Finished));
        e = Assert.Throws<RepscopeException>(() => new Reproducer(new FakeBackend()).Run(Options()));
        Assert.Equal($"{runDir}: run.json says finished but model.pt, test_labels.npy, test_predictions.npy, test_probabilities.npy are missing; move the folder away to retrain it", e.Message);

        File.WriteAllText(Path.Combine(runDir, "run.json"), "{ not json");
        e = Assert.Throws<RepscopeException>(() => new Reproducer(new FakeBackend()).Run(Options()));
        Assert.StartsWith($"{Path.Combine(runDir, "run.json")}: not valid run JSON", e.Message);
    }

    [Fact]
    public void Progress_counts_steps_and_the_overall_bar_reaches_its_total()
    {
        var progress = new RecordingProgress();
        var summary = new Reproducer(new FakeBackend()).Run(Options(), progress);
        var plan = TinyPlan();
        int steps = plan.Runs.Count + 1 + plan.LayerRuns.Count + ReproduceReport.MeasureRuns(plan).Count + 1 + 2 * plan.ProbeAndPrune.Count + 1;
        var overall = progress.Tasks[0];
        Assert.Equal($"reproduce (quick grid) ({steps} steps)", overall.Description);
        Assert.Equal(overall.Total, overall.Done, 6);
        Assert.True(overall.Completed);
        Assert.Contains(overall.Statuses, s => s.StartsWith($"step {steps} of {steps}: errors", StringComparison.Ordinal));
        // Every step's own bar is prefixed "[i/N]" (runs train at once, so in no fixed order), step 1 among them.
        var indices = progress.Tasks.Skip(1).Select(t => int.Parse(t.Description[1..t.Description.IndexOf('/')], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Contains(1, indices);
        Assert.All(indices, i => Assert.InRange(i, 1, steps));
        Assert.All(progress.Tasks.Skip(1), t => Assert.Contains($"/{steps}] ", t.Description));
        // Progress never runs backwards or past the total.
        Assert.All(overall.Increments, d => Assert.True(d >= 0));

        // A second call has only the analyses to do: fewer steps.
        var again = new RecordingProgress();
        new Reproducer(new FakeBackend()).Run(Options(), again);
        Assert.Equal($"reproduce (quick grid) ({steps - plan.Runs.Count} steps)", again.Tasks[0].Description);
        Assert.True(File.Exists(summary.ReportPath));
    }

    [SkippableFact]
    public void Reproduce_report_renders_in_chromium()
    {
        BrowserCheckTests.SkipUnlessBrowser();
        var summary = new Reproducer(new FakeBackend()).Run(Options());
        int figures = System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(summary.ReportPath), "<figure id=").Count;
        var (code, output) = BrowserCheckTests.RunCheck(summary.ReportPath, Path.Combine(_dir, "shot.png"), "--min-images", figures.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(code == 0, output);
        // For a look by eye: REPSCOPE_TEST_ARTIFACTS=folder keeps the report and its screenshot.
        if (Environment.GetEnvironmentVariable("REPSCOPE_TEST_ARTIFACTS") is { Length: > 0 } keep)
        {
            Directory.CreateDirectory(keep);
            File.Copy(summary.ReportPath, Path.Combine(keep, "reproduce-report.html"), overwrite: true);
            File.Copy(Path.Combine(_dir, "shot.png"), Path.Combine(keep, "reproduce-report.png"), overwrite: true);
        }
    }

    internal sealed class RecordingProgress : IProgressReporter
    {
        public List<Task> Tasks { get; } = [];

        public IProgressTask Start(string description, double total)
        {
            var t = new Task(description, total);
            lock (Tasks) { Tasks.Add(t); }
            return t;
        }

        internal sealed class Task(string description, double total) : IProgressTask
        {
            public string Description { get; } = description;
            public double Total { get; } = total;
            public double Done { get; private set; }
            public bool Completed { get; private set; }
            public List<double> Increments { get; } = [];
            public List<string> Statuses { get; } = [];

            public void Advance(double amount, string? status = null)
            {
                lock (Increments)
                {
                    Done += amount;
                    Increments.Add(amount);
                    if (status is not null) { Statuses.Add(status); }
                }
            }

            public void Complete(string? status = null) => Completed = true;
            public void Dispose() { }
        }
    }
}
