using System.Diagnostics;
using System.Text.Json;
using Repscope.Cluster;
using Repscope.Reproduce;

namespace Repscope.Tests.Cluster;

/// <summary>
/// `repscope reproduce --slurm` against a real Slurm (one node on loopback, started by tests/slurm/start.sh):
/// a tiny grid goes through the training array, the analyses array and the report job; its findings and
/// CKA values equal those of the same grid run locally, and a training task requeued midway (as a
/// preemption would) resumes from its checkpoint. Skipped, with the reason, where Slurm cannot be started.
/// </summary>
[Collection("Slurm")]
public sealed class SlurmGridIntegrationTests
{
    /// <summary>Far above the ~2 minutes the test takes on an idle 2-core machine: a heavily loaded machine (load 50) needs 4-5.</summary>
    private static readonly TimeSpan JobsTimeout = TimeSpan.FromMinutes(8);

    /// <summary>
    /// Six ResNet-8 runs: seeds 1-3 trained one epoch on 64 images, seed 4 three epochs on 256 images (the one
    /// requeued midway), and two seeds at width 0.5 (the errors experiment's other group). The within-model CKA of the seed pair, its cross-seed CKA and the errors statistics
    /// all run; probes and pruning (minutes under load) are left out of this grid.
    /// </summary>
    private static ExperimentPlan Tiny()
    {
        RunSpec R(int seed, double width = 1) => new(8, width, true, 64, 1, seed);
        var (a, b) = (R(1), R(2));
        return new ExperimentPlan(GridScale.Quick, DepthRow: [a], WidthRow: [a], LessDataRow: [a], NoResidual: (a, b), SeedPair: (a, b),
                                  ProbeAndPrune: [], ErrorsDeep: [a, b, R(3), Long], ErrorsWide: [R(1, 0.5), R(2, 0.5)]) { TestExamples = 64 };
    }

    private static readonly RunSpec Long = new(8, 1, true, 256, 3, 4);

    [SkippableFact]
    public void Tiny_grid_on_slurm_equals_the_local_run_and_a_requeued_task_resumes()
    {
        string? why = LocalSlurm.Unavailable();
        Skip.If(why is not null, why);
        string work = Directory.CreateTempSubdirectory("repscope-slurm-grid-").FullName;
        var clock = Stopwatch.StartNew();
        var slurm = LocalSlurm.Start();
        bool passed = false;
        try
        {
            var env = new Dictionary<string, string> { ["SLURM_CONF"] = slurm.Conf, ["REPSCOPE_PLAIN_PROGRESS"] = "1" };
            string planFile = Path.Combine(work, "plan.json");
            PlanFile.Write(planFile, Tiny());
            string onSlurm = Path.Combine(work, "slurm-run");
            string cli = Path.Combine(AppContext.BaseDirectory, "Repscope.Cli.dll");
            string[] submit = [cli, "reproduce", "--slurm", "--plan", planFile, "--data", "fashion-mnist-small", "--out", onSlurm, "--cpus-per-task", "1", "--time", "00:05:00"];
            var sub = LocalSlurm.Run("dotnet", submit, env);
            Assert.True(sub.Code == 0, $"reproduce --slurm failed ({sub.Code}): {sub.Err}");
            Assert.Contains("training ", sub.Out);
            Assert.Contains("follow:   squeue -j ", sub.Out);
            var jobs = JsonSerializer.Deserialize<SlurmGrid.SubmittedJobs>(File.ReadAllText(Path.Combine(onSlurm, "slurm", "jobs.json")), JsonDefaults.Options)!;
            Assert.Equal(Tiny().Runs.Select(r => r.Name), jobs.TrainedRuns);
            Assert.Equal([Tiny().SeedPair.A.Name, Tiny().SeedPair.B.Name], jobs.AnalysedRuns);

            // The local run of the same grid, while Slurm works (the same threads: 1 per run there and here). It runs
            // in its own process, as the jobs do: libtorch's thread count is process-wide state, and tests running
            // in parallel in this process set it (a run here once differed from the jobs' at the 7th digit).
            string local = Path.Combine(work, "local-run");
            var localRun = Task.Run(() => LocalSlurm.Run("dotnet", [cli, "reproduce", "--plan", planFile, "--data", "fashion-mnist-small", "--out", local],
                                                          new Dictionary<string, string> { ["REPSCOPE_PLAIN_PROGRESS"] = "1" }));

            // Requeue the long run's task once it has a checkpoint: Slurm stops it and queues it again.
            var client = new SlurmClientFor(slurm.Conf);
            string task = $"{jobs.Train}_{jobs.TrainedRuns!.ToList().IndexOf(Long.Name)}";
            string runJson = Path.Combine(onSlurm, "runs", Long.Name, "run.json");
            int epochsAtRequeue = WaitForEpoch(runJson, clock);
            client.Requeue(task);

            var states = client.WaitForAll(jobs.Jobs, clock);
            var localResult = localRun.Result;
            Assert.True(localResult.Code == 0, $"local reproduce failed ({localResult.Code}): {localResult.Err}");
            string logs = Path.Combine(onSlurm, "slurm", "logs");
            Assert.True(states.All(s => s.State == "COMPLETED"),
                        $"jobs: {string.Join(", ", states.Select(s => $"{s.Id} {s.State}"))}; logs in {logs}: {Tail(logs)}");

            // The requeued task ran twice and the second time continued the run from its checkpoint.
            string log = File.ReadAllText(Path.Combine(logs, $"train_{task}.log"));
            Assert.Contains("(restart 0)", log);
            Assert.Contains("(restart 1)", log);
            using (var run = JsonDocument.Parse(File.ReadAllText(runJson)))
            {
                Assert.Equal(1, run.RootElement.GetProperty("provenance").GetProperty("resumes").GetInt32());
                Assert.Equal(Long.Epochs, run.RootElement.GetProperty("epochs").GetArrayLength());
                Assert.InRange(epochsAtRequeue, 1, Long.Epochs - 1);
            }

            // Everything the jobs made equals the local run: every run's per-epoch losses and accuracies (the requeued
            // run too), the CKA matrices within each model and across the seed pair, and the findings, number for
            // number. Only times and paths differ. (The weights' SHA-256 are not compared: once, under load 70, a
            // width-0.5 run's model.pt differed in its last bits between two 2-thread runs with equal losses.)
            foreach (var r in Tiny().Runs)
            {
                Assert.Equal(Json(Path.Combine(local, "runs", r.Name, "run.json"), "finalTestAccuracy", "epochs"),
                             Json(Path.Combine(onSlurm, "runs", r.Name, "run.json"), "finalTestAccuracy", "epochs"));
            }
            foreach (var r in new[] { Tiny().SeedPair.A, Tiny().SeedPair.B })
            {
                Assert.Equal(Json(Path.Combine(local, "runs", r.Name, "analysis", "pc.json"), "layers", "cka", "ckaWithoutPc1", "pc1Fraction", "blockStructure"),
                             Json(Path.Combine(onSlurm, "runs", r.Name, "analysis", "pc.json"), "layers", "cka", "ckaWithoutPc1", "pc1Fraction", "blockStructure"));
            }
            string pair = $"{Tiny().SeedPair.A.Name}-vs-{Tiny().SeedPair.B.Name}";
            var compared = Directory.GetFiles(Path.Combine(local, "compare", pair), "*.json");
            Assert.NotEmpty(compared);
            foreach (string f in compared)
            {
                Assert.Equal(Json(f, "rowLayers", "columnLayers", "cka"), Json(Path.Combine(onSlurm, "compare", pair, Path.GetFileName(f)), "rowLayers", "columnLayers", "cka"));
            }
            Assert.Equal(Json(Path.Combine(local, "findings.json"), "findings"), Json(Path.Combine(onSlurm, "findings.json"), "findings"));
            Assert.True(File.Exists(Path.Combine(onSlurm, "report.html")));

            // A second call finds everything done and submits nothing.
            var again = LocalSlurm.Run("dotnet", submit, env);
            Assert.True(again.Code == 0, again.Err);
            Assert.StartsWith($"nothing to submit: all {Tiny().Runs.Count} runs are trained and analysed", again.Out);
            passed = true;
        }
        finally
        {
            slurm.Stop(keep: !passed);
            if (passed) { Directory.Delete(work, recursive: true); }
        }
    }

    /// <summary>
    /// The named properties of a JSON file as raw text (so that numbers compare exactly), leaving out the
    /// per-epoch wall-clock fields (seconds, imagesPerSecond) wherever they are.
    /// </summary>
    private static string Json(string file, params string[] keys)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(file))!.AsObject();
        foreach (var e in node["epochs"] as System.Text.Json.Nodes.JsonArray ?? [])
        {
            e!.AsObject().Remove("seconds");
            e.AsObject().Remove("imagesPerSecond");
        }
        return string.Join("\n", keys.Select(k => $"{k}: {node[k]?.ToJsonString() ?? throw new KeyNotFoundException($"{file}: no '{k}'")}"));
    }

    /// <summary>Waits until run.json shows a finished epoch while the run is still training; returns the epochs done.</summary>
    private static int WaitForEpoch(string runJson, Stopwatch clock)
    {
        while (clock.Elapsed < JobsTimeout)
        {
            if (File.Exists(runJson))
            {
                try
                {
                    using var doc = JsonDocument.Parse(File.ReadAllText(runJson));
                    int epochs = doc.RootElement.GetProperty("epochs").GetArrayLength();
                    Assert.True(doc.RootElement.GetProperty("state").GetString() == "training",
                                $"{runJson}: the run finished before it could be requeued; give it more epochs");
                    if (epochs >= 1) { return epochs; }
                }
                catch (JsonException) { } // being replaced (atomic rename): read again
                catch (IOException) { }
            }
            Thread.Sleep(100);
        }
        throw new TimeoutException($"{runJson}: no finished epoch after {clock.Elapsed}");
    }

    private static string Tail(string logs) =>
        !Directory.Exists(logs) ? "(none)" : string.Join(" | ", Directory.GetFiles(logs).Order().Select(f => $"{Path.GetFileName(f)}: {string.Join(" / ", File.ReadAllLines(f).TakeLast(3))}"));

    /// <summary>The Slurm clients pointed at the test's cluster (SLURM_CONF set for every call).</summary>
    private sealed class SlurmClientFor(string conf)
    {
        private readonly SlurmClient _client = new(new ConfRunner(conf));

        public void Requeue(string task) => _client.Requeue(task);

        public IReadOnlyList<JobState> WaitForAll(IEnumerable<string> jobs, Stopwatch clock)
        {
            var ids = jobs.ToList();
            var waitingSince = new Dictionary<string, TimeSpan>();
            while (true)
            {
                var states = _client.States(ids);
                if (states.Count > 0 && states.All(s => !s.IsActive)) { return states; }
                // A requeued task waits about two minutes before it may start again; let it start sooner, but not at once:
                // slurmd refuses to launch a job it killed moments ago ("Job 1 already killed, do not launch batch job",
                // seen 0.7 s after the requeue), and the task then ends FAILED without running. 5 s after it was first
                // seen waiting is past that.
                foreach (var s in states.Where(s => s is { State: "PENDING", Reason: "BeginTime" }))
                {
                    if (!waitingSince.TryGetValue(s.Id, out var since)) { waitingSince[s.Id] = since = clock.Elapsed; }
                    if (clock.Elapsed - since >= TimeSpan.FromSeconds(5)) { _client.StartNow(s.Id); }
                }
                if (clock.Elapsed > JobsTimeout)
                {
                    throw new TimeoutException($"jobs still running after {clock.Elapsed}: {string.Join(", ", states.Select(s => $"{s.Id} {s.State} {s.Reason}"))}");
                }
                Thread.Sleep(500);
            }
        }
    }

    private sealed class ConfRunner(string conf) : ICommandRunner
    {
        public CommandResult Run(string program, IReadOnlyList<string> arguments)
        {
            var r = LocalSlurm.Run(program, arguments, new Dictionary<string, string> { ["SLURM_CONF"] = conf });
            return new CommandResult(r.Code, r.Out, r.Err);
        }
    }
}
