using Repscope.Cluster;
using Repscope.Interop;
using Repscope.Similarity;

namespace Repscope.Tests.Cluster;

/// <summary>
/// Sharded minibatch CKA: the states of all N slices, merged, give the map of one unsharded run (to 1e-12),
/// whatever N (also more slices than batches) and in any order; mismatched states are refused.
/// </summary>
public sealed class CkaShardsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("repscope-shards-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Layers of a random network-like stack: each a noisy linear map of the one before (so CKA is far from 0 and 1).</summary>
    private string Stack(string name, int n, int seed, params int[] widths)
    {
        var rng = new Random(seed);
        var arrays = new List<NdArray>();
        var previous = new float[n * 8];
        for (int i = 0; i < previous.Length; i++) { previous[i] = (float)(rng.NextDouble() * 2 - 1); }
        int pw = 8;
        foreach (var (w, li) in widths.Select((w, i) => (w, i)))
        {
            var next = new float[n * w];
            var weights = Enumerable.Range(0, pw * w).Select(_ => rng.NextDouble() - 0.5).ToArray();
            for (int r = 0; r < n; r++)
            {
                for (int c = 0; c < w; c++)
                {
                    double v = 0;
                    for (int k = 0; k < pw; k++) { v += previous[r * pw + k] * weights[k * w + c]; }
                    next[r * w + c] = (float)Math.Max(0, v + 0.3 * (rng.NextDouble() - 0.5));
                }
            }
            arrays.Add(NdArray.FromFloat32($"layer{li}", next, n, w));
            (previous, pw) = (next, w);
        }
        string path = Path.Combine(_dir, name);
        Npz.Write(path, arrays);
        return path;
    }

    private static void AssertSame(CkaMatrix expected, CkaMatrix actual)
    {
        Assert.Equal(expected.Rows, actual.Rows);
        Assert.Equal(expected.Columns, actual.Columns);
        double worst = 0;
        for (int i = 0; i < expected.Rows.Count; i++)
        {
            for (int j = 0; j < expected.Columns.Count; j++)
            {
                Assert.Equal(double.IsNaN(expected[i, j]), double.IsNaN(actual[i, j]));
                if (!double.IsNaN(expected[i, j])) { worst = Math.Max(worst, Math.Abs(expected[i, j] - actual[i, j])); }
            }
        }
        Assert.True(worst <= 1e-12, $"largest difference {worst:g3}");
    }

    private IReadOnlyList<string> Shards(CkaHeatmapRequest r, int count)
    {
        var states = new List<string>();
        for (int k = 1; k <= count; k++)
        {
            string state = Path.Combine(_dir, $"state-{count}-{k}.npz");
            var info = CkaShards.Accumulate(r, new ShardSpec(k, count), state);
            Assert.Equal((k, count), (info.Shard, info.Shards));
            states.Add(state);
        }
        return states;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(20)] // more slices than the 16 batches: some are empty
    public void Merged_shards_equal_one_unsharded_run_within_one_model(int shards)
    {
        string a = Stack("a.npz", 1000, 1, 12, 20, 6, 16);
        var request = new CkaHeatmapRequest(a, null, BatchSize: 64);
        var whole = CkaFiles.Heatmap(request);
        var states = Shards(request, shards);
        // Any order: the merge sorts by shard.
        var (merged, info) = CkaShards.Merge([.. states.AsEnumerable().Reverse()]);
        AssertSame(whole.Matrix, merged.Matrix);
        Assert.Equal((whole.Batches, whole.N, whole.Description), (merged.Batches, merged.N, merged.Description));
        // The trailing batch of 1000 - 15 x 64 = 40 rows counts; the map is not trivial.
        Assert.Equal(16, merged.Batches);
        Assert.InRange(whole.Matrix[0, 3], 0.05, 0.95);
        Assert.Equal("a.npz", info.Inputs[0].File);
    }

    [Fact]
    public void Merged_shards_equal_one_unsharded_run_across_two_models_with_the_rbf_kernel()
    {
        string a = Stack("a.npz", 530, 2, 10, 14);
        string b = Stack("b.npz", 530, 3, 6, 9, 12);
        var request = new CkaHeatmapRequest(a, b, BatchSize: 50, Kernel: KernelKind.Rbf, RbfThreshold: 0.8);
        var whole = CkaFiles.Heatmap(request);
        var (merged, _) = CkaShards.Merge(Shards(request, 4));
        AssertSame(whole.Matrix, merged.Matrix);
        Assert.Equal((2, 3), (merged.Matrix.Rows.Count, merged.Matrix.Columns.Count));
    }

    [Fact]
    public void A_trailing_batch_too_small_is_dropped_once_with_its_warning()
    {
        string a = Stack("a.npz", 130, 4, 5, 7); // 2 batches of 64 and one of 2 rows
        var request = new CkaHeatmapRequest(a, null, BatchSize: 64);
        var whole = CkaFiles.Heatmap(request);
        var (merged, _) = CkaShards.Merge(Shards(request, 2));
        AssertSame(whole.Matrix, merged.Matrix);
        Assert.Equal((2, 2L), (merged.Batches, merged.DroppedRows));
        Assert.Equal(whole.Warnings, merged.Warnings);
    }

    [Fact]
    public void Mismatched_missing_and_repeated_states_are_refused_naming_the_file()
    {
        string a = Stack("a.npz", 300, 5, 5, 7);
        var request = new CkaHeatmapRequest(a, null, BatchSize: 32);
        var states = Shards(request, 3);

        var missing = Assert.Throws<RepscopeException>(() => CkaShards.Merge([states[0], states[2]]));
        Assert.Contains("shard(s) 2/3 missing", missing.Message);
        var twice = Assert.Throws<RepscopeException>(() => CkaShards.Merge([states[0], states[1], states[1], states[2]]));
        Assert.Contains("shard 2/3 is also in", twice.Message);

        string other = Path.Combine(_dir, "other-batch.npz");
        CkaShards.Accumulate(request with { BatchSize = 16 }, new ShardSpec(2, 3), other);
        var settings = Assert.Throws<RepscopeException>(() => CkaShards.Merge([states[0], other, states[2]]));
        Assert.StartsWith(other + ": it was made with other settings", settings.Message);

        // The same file name with other contents: the checksum tells.
        string changed = Path.Combine(_dir, "changed");
        Directory.CreateDirectory(changed);
        File.Copy(Stack("a2.npz", 300, 6, 5, 7), Path.Combine(changed, "a.npz"));
        string otherData = Path.Combine(_dir, "other-data.npz");
        CkaShards.Accumulate(request with { A = Path.Combine(changed, "a.npz") }, new ShardSpec(2, 3), otherData);
        var data = Assert.Throws<RepscopeException>(() => CkaShards.Merge([states[0], otherData, states[2]]));
        Assert.Contains("other contents (SHA-256)", data.Message);

        string notState = Path.Combine(_dir, "plain.npz");
        Npz.Write(notState, [NdArray.FromFloat64("x", [1, 2, 3])]);
        Assert.Contains("not a CKA state", Assert.Throws<RepscopeException>(() => CkaShards.Merge([notState])).Message);

        Assert.Throws<RepscopeException>(() => ShardSpec.Parse("0/3"));
        Assert.Throws<RepscopeException>(() => ShardSpec.Parse("4/3"));
        Assert.Throws<RepscopeException>(() => ShardSpec.Parse("1-3"));
        Assert.Equal(new ShardSpec(2, 3), ShardSpec.Parse("2/3"));
    }

    [Fact]
    public void Slices_are_contiguous_whole_batches_that_cover_every_batch_once()
    {
        foreach (int batches in new[] { 1, 5, 16, 17 })
        {
            foreach (int count in new[] { 1, 2, 3, 7, 20 })
            {
                var ranges = Enumerable.Range(1, count).Select(k => new ShardSpec(k, count).Batches(batches)).ToList();
                Assert.Equal(0, ranges[0].First);
                Assert.Equal(batches, ranges[^1].End);
                for (int k = 1; k < count; k++) { Assert.Equal(ranges[k - 1].End, ranges[k].First); }
                Assert.True(ranges.Max(r => r.End - r.First) - ranges.Min(r => r.End - r.First) <= 1);
            }
        }
    }
}
