using System.Text.Json;
using Repscope.Cli.Commands;
using Repscope.Cluster;
using Repscope.Reproduce;
using Repscope.Runs;

namespace Repscope.Tests.Cluster;

/// <summary>
/// What `reproduce --slurm` submits, against a recording stand-in for Slurm's clients: the scripts, the
/// dependencies, what a second call submits, and the parsing of sbatch / squeue / sacct output.
/// </summary>
public sealed class SlurmGridTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("repscope-slurm-grid-unit-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Answers sbatch with increasing job ids and squeue with the states set in <see cref="States"/>.</summary>
    private sealed class FakeSlurm : ICommandRunner
    {
        public List<(string Program, IReadOnlyList<string> Args)> Calls { get; } = [];
        public Dictionary<string, string> States { get; } = [];
        private int _next = 100;

        public CommandResult Run(string program, IReadOnlyList<string> arguments)
        {
            Calls.Add((program, arguments));
            return program switch
            {
                "sbatch" => new CommandResult(0, $"{_next++};cluster\n", ""),
                "squeue" => States.TryGetValue(arguments[^1], out var s) ? new CommandResult(0, s, "") : new CommandResult(1, "", "slurm_load_jobs error: Invalid job id specified"),
                "sacct" => new CommandResult(1, "", "Slurm accounting storage is disabled"),
                _ => new CommandResult(0, "", ""),
            };
        }
    }

    private static ExperimentPlan Plan()
    {
        RunSpec R(int seed, double width = 1) => new(8, width, true, 64, 1, seed);
        return new ExperimentPlan(GridScale.Quick, [R(1)], [R(1), R(1, 2)], [R(1)], (R(1), R(2)), (R(1), R(2)), [R(1)],
                                  [R(1), R(2), R(3), R(4)], [R(1, 2), R(2, 2)]) { TestExamples = 64 };
    }

    private GridSubmission Submit(FakeSlurm fake, SlurmJobOptions? options = null)
    {
        var commands = new GridCommands(["dotnet", "/opt/repscope/Repscope.Cli.dll"],
            (r, dir) => ReproduceCommand.TrainArguments(r, TrainingSettings.For(Plan(), "fashion-mnist-small", null), dir), dir => ["train", "--out", dir, "--resume"],
            name => ["reproduce", "--only-run", name], ["reproduce", "--no-train"]);
        return new SlurmGrid(new SlurmClient(fake)).Submit(Plan(), _dir, options ?? new SlurmJobOptions(), commands);
    }

    [Fact]
    public void Submits_training_then_analyses_afterany_then_the_report_afterok_with_readable_scripts()
    {
        var fake = new FakeSlurm();
        var sub = Submit(fake, new SlurmJobOptions("short", "01:30:00", 8, "6G", ["--account=abc", "--qos=low"]));
        Assert.Equal(("100", "101", "102"), (sub.TrainJob, sub.AnalysesJob, sub.ReportJob));
        Assert.Equal(Plan().Runs, sub.Trained);
        Assert.Equal(SlurmGrid.AnalysedRuns(Plan()), sub.Analysed); // every seed of the row models (ExperimentPlan.LayerRuns), then the probed ones

        var sbatch = fake.Calls.Where(c => c.Program == "sbatch").Select(c => string.Join(' ', c.Args)).ToList();
        string scripts = Path.Combine(_dir, "slurm");
        Assert.Equal([
            $"--parsable {scripts}/train.sbatch",
            $"--parsable --dependency=afterany:100 {scripts}/analyses.sbatch",
            $"--parsable --kill-on-invalid-dep=yes --dependency=afterok:101 {scripts}/report.sbatch"], sbatch);

        string train = File.ReadAllText(Path.Combine(scripts, "train.sbatch"));
        foreach (string line in new[] { "#SBATCH --array=0-5", "#SBATCH --requeue", "#SBATCH --open-mode=append", "#SBATCH --cpus-per-task=8",
                                        "#SBATCH --partition=short", "#SBATCH --time=01:30:00", "#SBATCH --mem=6G", "#SBATCH --account=abc", "#SBATCH --qos=low",
                                        $"#SBATCH --output={scripts}/logs/train_%A_%a.log", "repscope=(dotnet /opt/repscope/Repscope.Cli.dll)",
                                        "  exec \"${repscope[@]}\" train --out \"$run\" --resume",
                                        "  exec \"${repscope[@]}\" \"${train[@]}\"" })
        {
            Assert.Contains(line + "\n", train);
        }
        // Task 0 is the cheapest run, with exactly what LibraryBackend would train.
        var first = Plan().Runs[0];
        Assert.Contains($"     train=(train --depth 8 --width 1 --data fashion-mnist-small --train-examples 64 --test-examples 64 --epochs 1 --batch-size 128 "
                        + $"--lr 0.1 --weight-decay 0.0005 --momentum 0.9 --warmup-epochs 0.1 --test-at-end --seed {first.Seed} --threads 1 --out {_dir}/runs/{first.Name}) ;;\n", train);
        string analyses = File.ReadAllText(Path.Combine(scripts, "analyses.sbatch"));
        Assert.Contains($"#SBATCH --array=0-{sub.Analysed.Count - 1}\n", analyses);
        Assert.Contains("exec \"${repscope[@]}\" reproduce --only-run \"$name\"\n", analyses);
        Assert.Contains("exec \"${repscope[@]}\" reproduce --no-train\n", File.ReadAllText(Path.Combine(scripts, "report.sbatch")));
        Assert.Contains("--dependency=afterany:${train%%;*} analyses.sbatch", File.ReadAllText(Path.Combine(scripts, "submit.sh")));
        using var jobs = JsonDocument.Parse(File.ReadAllText(Path.Combine(scripts, "jobs.json")));
        Assert.Equal("[\"100\",\"101\",\"102\"]", jobs.RootElement.GetProperty("jobs").GetRawText().Replace(" ", "").Replace("\n", "").Replace("\r", ""));
    }

    [Fact]
    public void A_second_call_is_refused_while_the_first_jobs_run_then_submits_only_what_is_missing()
    {
        var fake = new FakeSlurm();
        Submit(fake);
        fake.States["100"] = "100_3|RUNNING|None\n100_[4-5]|PENDING|Resources\n";
        var refused = Assert.Throws<RepscopeException>(() => Submit(fake));
        Assert.Contains("jobs 100 of an earlier submission are still queued or running (100_3 RUNNING, 100_[4-5] PENDING)", refused.Message);
        Assert.Contains("scancel 100", refused.Message);

        // The jobs are gone (squeue no longer knows them, no accounting); two runs finished, one partial.
        fake.States.Clear();
        foreach (var r in Plan().Runs.Take(2)) { FinishedRun(r); }
        string partial = Path.Combine(_dir, "runs", Plan().Runs[2].Name);
        Directory.CreateDirectory(partial);
        RunFormat.Write(partial, Tests.Reproduce.FakeBackend.RunJson(Plan().Runs[2], Settings, RunState.Training));
        var sub = Submit(fake);
        Assert.Equal(Plan().Runs.Skip(2), sub.Trained);
        Assert.Equal(2, sub.Reused);
        Assert.Contains("#SBATCH --array=0-3\n", File.ReadAllText(Path.Combine(_dir, "slurm", "train.sbatch")));
    }

    [Fact]
    public void Nothing_is_submitted_when_every_run_is_trained_and_analysed_and_the_findings_exist()
    {
        foreach (var r in Plan().Runs) { FinishedRun(r); }
        foreach (var r in SlurmGrid.AnalysedRuns(Plan()))
        {
            foreach (string f in SlurmGrid.AnalysisFiles(Plan(), _dir, r)) { Directory.CreateDirectory(Path.GetDirectoryName(f)!); File.WriteAllText(f, "{}"); }
        }
        var fake = new FakeSlurm();
        File.WriteAllText(Path.Combine(_dir, "findings.json"), "{}");
        var sub = Submit(fake);
        Assert.Null(sub.ReportJob);
        Assert.DoesNotContain(fake.Calls, c => c.Program == "sbatch");

        // Without the findings only the report job goes, with no dependency.
        File.Delete(Path.Combine(_dir, "findings.json"));
        sub = Submit(fake);
        Assert.Equal((null, null, "100"), (sub.TrainJob, sub.AnalysesJob, sub.ReportJob));
        Assert.Equal($"--parsable {_dir}/slurm/report.sbatch", string.Join(' ', fake.Calls.Single(c => c.Program == "sbatch").Args));
    }

    private void FinishedRun(RunSpec r)
    {
        string dir = Path.Combine(_dir, "runs", r.Name);
        Directory.CreateDirectory(dir);
        foreach (string f in RunFormat.FinishedFiles) { File.WriteAllText(Path.Combine(dir, f), "x"); }
        RunFormat.Write(dir, Tests.Reproduce.FakeBackend.RunJson(r, Settings, RunState.Finished));
    }

    private static readonly TrainingSettings Settings = new("fashion-mnist-small", null);

    [Fact]
    public void Parses_what_sbatch_squeue_and_sacct_print()
    {
        Assert.Equal("4242", SlurmClient.ParseSubmitted("4242\n", "x.sbatch"));
        Assert.Equal("17", SlurmClient.ParseSubmitted("warning: something\n17;clusterA\n", "x.sbatch"));
        Assert.Contains("x.sbatch: sbatch printed no job id", Assert.Throws<RepscopeException>(() => SlurmClient.ParseSubmitted("error\n", "x.sbatch")).Message);
        var q = SlurmClient.ParseSqueue("12_0|COMPLETED|None\n12_1|PENDING|BeginTime\n");
        Assert.Equal([new JobState("12_0", "COMPLETED", "None"), new JobState("12_1", "PENDING", "BeginTime")], q);
        Assert.Equal([false, true], q.Select(s => s.IsActive));
        Assert.Equal([new JobState("12_0", "CANCELLED", ""), new JobState("13", "FAILED", "")], SlurmClient.ParseSacct("12_0|CANCELLED by 0\n13|FAILED\n"));
        Assert.Equal("'a b'", SlurmGrid.Quote("a b"));
        Assert.Equal("'it'\\''s'", SlurmGrid.Quote("it's"));
        Assert.Equal("\"$run\"", SlurmGrid.Quote("$run"));
        Assert.Equal("--lr", SlurmGrid.Quote("--lr"));
    }

    [Fact]
    public void Bad_job_options_are_refused_before_anything_is_written()
    {
        Assert.Contains("not a Slurm time limit", Assert.Throws<RepscopeException>(() => Submit(new FakeSlurm(), new SlurmJobOptions(Time: "2 hours"))).Message);
        Assert.Contains("cpusPerTask must be at least 1", Assert.Throws<RepscopeException>(() => Submit(new FakeSlurm(), new SlurmJobOptions(CpusPerTask: 0))).Message);
        Assert.False(Directory.Exists(Path.Combine(_dir, "slurm")));
    }

    [Fact]
    public void A_plan_file_round_trips_and_a_bad_one_names_the_file()
    {
        string file = Path.Combine(_dir, "plan.json");
        PlanFile.Write(file, Plan());
        var back = PlanFile.Read(file);
        Assert.Equal(Plan().Runs, back.Runs);
        Assert.Equal((Plan().SeedPair, Plan().NoResidual, Plan().TestExamples), (back.SeedPair, back.NoResidual, back.TestExamples));
        Assert.Equal(Plan().ErrorsDeep, back.ErrorsDeep);
        File.WriteAllText(file, "{\"format\": \"repscope-plan/1\", \"scale\": \"quick\"}");
        Assert.StartsWith(file + ": plan file lacks", Assert.Throws<RepscopeException>(() => PlanFile.Read(file)).Message);
        File.WriteAllText(file, "[1, 2");
        Assert.StartsWith(file + ": not a plan file", Assert.Throws<RepscopeException>(() => PlanFile.Read(file)).Message);
    }
}
