using System.Text.Json;
using Repscope.Interop;
using Repscope.Tests.Cli;

namespace Repscope.Tests.Cluster;

/// <summary>`repscope heatmap --shard K/N --state S.npz` and `repscope merge` from the command line.</summary>
public sealed class ShardCommandsTests : IDisposable
{
    private readonly string _dir = CliRunner.TempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Acts()
    {
        var rng = new Random(7);
        float[] Layer(int w) => [.. Enumerable.Range(0, 300 * w).Select(_ => (float)rng.NextDouble())];
        var x = Layer(6);
        var y = x.Select((v, i) => v + 0.5f * (float)rng.NextDouble()).ToArray(); // correlated with x
        string path = Path.Combine(_dir, "acts.npz");
        Npz.Write(path, [NdArray.FromFloat32("x", x, 300, 6), NdArray.FromFloat32("y", y, 300, 6), NdArray.FromFloat32("z", Layer(4), 300, 4)]);
        return path;
    }

    private static double[][] Values(string json)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        return [.. doc.RootElement.GetProperty("values").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray())];
    }

    [Fact]
    public void Three_shards_merged_write_the_map_of_one_unsharded_heatmap()
    {
        string acts = Acts();
        var whole = CliRunner.Run("heatmap", acts, "--batch-size", "32", "--out", Path.Combine(_dir, "whole"));
        Assert.Equal(0, whole.ExitCode);
        var states = new List<string>();
        for (int k = 1; k <= 3; k++)
        {
            string state = Path.Combine(_dir, $"s{k}.npz");
            var r = CliRunner.Run("heatmap", acts, "--batch-size", "32", "--shard", $"{k}/3", "--state", state);
            Assert.True(r.ExitCode == 0, r.Err);
            Assert.Contains($"shard {k}/3: minibatches", r.Out);
            states.Add(state);
        }
        var merged = CliRunner.Run(["merge", .. states, "--out", Path.Combine(_dir, "merged")]);
        Assert.True(merged.ExitCode == 0, merged.Err);
        Assert.Contains("merged 3 shards of acts.npz", merged.Out);
        var (a, b) = (Values(Path.Combine(_dir, "whole", "cka.json")), Values(Path.Combine(_dir, "merged", "cka.json")));
        for (int i = 0; i < 3; i++) { for (int j = 0; j < 3; j++) { Assert.Equal(a[i][j], b[i][j], 1e-12); } }
        Assert.InRange(a[0][1], 0.3, 0.99); // x and y are similar, not identical
        // The same description (batches, n) on both: the merged map is the unsharded one.
        Assert.Equal(whole.Out.Split('\n')[0], merged.Out.Split('\n')[1]);
        Assert.True(File.Exists(Path.Combine(_dir, "merged", "cka.png")));
    }

    [Fact]
    public void Bad_shard_options_and_missing_shards_give_one_error_line()
    {
        string acts = Acts();
        Assert.Contains("is not K/N", CliRunner.Run("heatmap", acts, "--shard", "4/3", "--state", Path.Combine(_dir, "s.npz")).ErrorLine);
        Assert.Contains("--shard K/N and --state S.npz go together", CliRunner.Run("heatmap", acts, "--shard", "1/3").ErrorLine);
        Assert.Contains("the biased one needs every example at once",
                        CliRunner.Run("heatmap", acts, "--estimator", "biased", "--shard", "1/2", "--state", Path.Combine(_dir, "s.npz")).ErrorLine);
        string s1 = Path.Combine(_dir, "s1.npz");
        Assert.Equal(0, CliRunner.Run("heatmap", acts, "--shard", "1/2", "--state", s1).ExitCode);
        var missing = CliRunner.Run("merge", s1, "--out", Path.Combine(_dir, "m"));
        Assert.Equal(2, missing.ExitCode);
        Assert.Equal($"repscope: error: {s1}: shard(s) 2/2 missing; merge needs all 2", missing.ErrorLine);
        Assert.Contains("--out DIR is required", CliRunner.Run("merge", s1).ErrorLine);
    }
}
