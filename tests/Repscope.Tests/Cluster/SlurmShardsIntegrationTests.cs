using System.Diagnostics;
using System.Text.Json;
using Repscope.Tests.Cli;
using Repscope.Tests.Models;

namespace Repscope.Tests.Cluster;

/// <summary>
/// `repscope layers --shard` as a real Slurm job array and `repscope merge` as a job that waits for it (afterok), submitted by
/// examples/slurm/shard.sh on a one-node Slurm (tests/slurm/start.sh): the merged layers.json equals one unsharded `layers`
/// to 1e-12. Skipped, with the reason, where Slurm cannot be started.
/// </summary>
[Collection("Slurm")]
public sealed class SlurmShardsIntegrationTests
{
    private static readonly TimeSpan JobsTimeout = TimeSpan.FromMinutes(4);

    private static double[][] Cka(JsonElement layers) =>
        [.. layers.GetProperty("cka").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray())];

    [SkippableFact]
    public void Layers_sharded_as_a_job_array_and_merged_after_it_equal_the_unsharded_run()
    {
        string? why = LocalSlurm.Unavailable();
        Skip.If(why is not null, why);
        string work = Directory.CreateTempSubdirectory("repscope-slurm-shards-").FullName;
        string cnn = OnnxFixtures.ModelPath("cnn");
        // Six taps, 24 examples in batches of 4: 6 batches, 2 per shard.
        string[] args = ["layers", cnn, "--input", OnnxFixtures.File("cnn_input.npy"), "--taps", string.Join(",", OnnxFixtures.Taps("cnn")), "--batch-size", "4"];
        var whole = CliRunner.Run([.. args, "--out", Path.Combine(work, "whole")]);
        Assert.True(whole.ExitCode == 0, whole.Err);

        var clock = Stopwatch.StartNew();
        var slurm = LocalSlurm.Start();
        bool passed = false;
        try
        {
            var env = new Dictionary<string, string>
            {
                ["SLURM_CONF"] = slurm.Conf,
                ["REPSCOPE"] = $"dotnet {Path.Combine(AppContext.BaseDirectory, "Repscope.Cli.dll")}",
                ["REPSCOPE_PLAIN_PROGRESS"] = "1",
            };
            string merged = Path.Combine(work, "merged");
            var sub = LocalSlurm.Run("bash", [Path.Combine(LocalSlurm.RepoRoot, "examples", "slurm", "shard.sh"), "3", merged, .. args], env);
            Assert.True(sub.Code == 0, $"shard.sh failed ({sub.Code}): {sub.Err}");
            var ids = System.Text.RegularExpressions.Regex.Match(sub.Out, @"shards: (\d+) \(array 1-3\), merge: (\d+) \(after all shards\)");
            Assert.True(ids.Success, sub.Out);
            // The merge job waits for the whole array with afterok.
            var show = LocalSlurm.Run("scontrol", ["show", "job", ids.Groups[2].Value], env);
            Assert.Contains($"afterok:{ids.Groups[1].Value}", show.Out);

            string states = WaitForJobs(env, [ids.Groups[1].Value, ids.Groups[2].Value], clock);
            string logs = Path.Combine(merged, "slurm", "logs");
            Assert.True(states.Split('\n', StringSplitOptions.RemoveEmptyEntries).All(l => l.EndsWith(" COMPLETED")),
                        $"jobs: {states}; logs: {string.Join(" | ", Directory.GetFiles(logs).Select(f => $"{Path.GetFileName(f)}: {File.ReadAllText(f)}"))}");
            Assert.Equal(4, states.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);   // 3 array tasks and the merge

            using var a = JsonDocument.Parse(File.ReadAllText(Path.Combine(work, "whole", "layers.json")));
            using var b = JsonDocument.Parse(File.ReadAllText(Path.Combine(merged, "layers.json")));
            var (ca, cb) = (Cka(a.RootElement), Cka(b.RootElement));
            Assert.Equal(6, ca.Length);
            for (int i = 0; i < 6; i++) { for (int j = 0; j < 6; j++) { Assert.Equal(ca[i][j], cb[i][j], 1e-12); } }
            Assert.InRange(ca[0][4], 0.05, 0.99);
            foreach (string p in new[] { "strength", "coverage" })
            {
                foreach (string v in new[] { "estimate", "low", "high" })
                {
                    Assert.Equal(a.RootElement.GetProperty("blockStructureScore").GetProperty(p).GetProperty(v).GetDouble(),
                                 b.RootElement.GetProperty("blockStructureScore").GetProperty(p).GetProperty(v).GetDouble(), 1e-12);
                }
            }
            Assert.Equal(3, b.RootElement.GetProperty("mergedShards").GetInt32());
            Assert.Equal(3, Directory.GetFiles(Path.Combine(merged, "states"), "shard_*.npz").Length);
            passed = true;
        }
        finally
        {
            slurm.Stop(keep: !passed);
            if (passed) { Directory.Delete(work, recursive: true); }
        }
    }

    /// <summary>Waits until none of the jobs (array tasks included) is pending or running; returns "ID STATE" lines.</summary>
    private static string WaitForJobs(IReadOnlyDictionary<string, string> env, IReadOnlyList<string> jobs, Stopwatch clock)
    {
        while (true)
        {
            var q = LocalSlurm.Run("squeue", ["-h", "-t", "all", "-j", string.Join(",", jobs), "-o", "%i %T"], env);
            Assert.True(q.Code == 0, q.Err);
            string[] active = ["PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED"];
            var lines = q.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            if (lines.Length > 0 && !lines.Any(l => active.Any(s => l.EndsWith(" " + s)))) { return q.Out.Trim(); }
            if (clock.Elapsed > JobsTimeout) { throw new TimeoutException($"jobs still running after {clock.Elapsed}: {q.Out}"); }
            Thread.Sleep(500);
        }
    }
}
