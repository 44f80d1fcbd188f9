using System.Diagnostics;
using Repscope.Interop;
using Repscope.Similarity;

namespace Repscope.Tests.Similarity;

/// <summary>
/// Minibatch CKA read a batch at a time from stored (np.savez) .npz members and .npy files gives the map of the
/// loading path to the last bit (it only changes where the rows come from), checks what loading checks (non-finite
/// values, CRC-32) with the same messages, records the inputs' SHA-256, and keeps memory at a few batches.
/// </summary>
public sealed class StreamedCkaTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("repscope-streamed-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Layers that share a latent factor (CKA well inside (0, 1)), ReLU-like, float32.</summary>
    private static List<NdArray> Layers(int n, int seed, params int[] widths)
    {
        var rng = new Random(seed);
        var latent = Enumerable.Range(0, n * 4).Select(_ => rng.NextDouble() - 0.5).ToArray();
        return widths.Select((w, li) =>
        {
            var x = new float[n * w];
            var weights = Enumerable.Range(0, 4 * w).Select(_ => rng.NextDouble() - 0.5).ToArray();
            for (int r = 0; r < n; r++)
            {
                for (int c = 0; c < w; c++)
                {
                    double v = 0.2 * (rng.NextDouble() - 0.5);
                    for (int k = 0; k < 4; k++) { v += latent[r * 4 + k] * weights[k * w + c]; }
                    x[r * w + c] = (float)Math.Max(0, v);
                }
            }
            return NdArray.FromFloat32($"layer{li}", x, n, w);
        }).ToList();
    }

    private string Write(string name, IEnumerable<NdArray> arrays, bool compress)
    {
        string path = Path.Combine(_dir, name);
        Npz.Write(path, arrays, compress);
        return path;
    }

    private static void AssertIdentical(CkaMatrix expected, CkaMatrix actual)
    {
        Assert.Equal(expected.Rows, actual.Rows);
        Assert.Equal(expected.Columns, actual.Columns);
        for (int i = 0; i < expected.Rows.Count; i++)
        {
            for (int j = 0; j < expected.Columns.Count; j++) { Assert.Equal(expected[i, j], actual[i, j]); }
        }
    }

    /// <summary>The loading path's map: every layer loaded whole as a tensor (<see cref="CkaFiles.LoadNpz(string)"/>), then minibatches of the tensors.</summary>
    private static CkaMatrix Loaded(string a, string? b, BatchPlan plan, KernelKind kernel, out MinibatchCkaAccumulator acc, int first = 0, int end = -1)
    {
        var la = CkaFiles.LoadNpz(a);
        var lb = b is null ? null : CkaFiles.LoadNpz(b);
        try
        {
            return AllPairsCka.Minibatch([.. la.Select(l => l.Data)], [.. la.Select(l => l.Name)], lb?.Select(l => l.Data).ToArray(),
                                         lb?.Select(l => l.Name).ToArray(), plan, kernel, 0.5, null, out acc, first, end);
        }
        finally
        {
            foreach (var l in la.Concat(lb ?? [])) { l.Data.Dispose(); }
        }
    }

    private static int InflatedFilesLeft() => Directory.GetFiles(Path.GetTempPath(), "repscope-inflated-*").Length;

    [Theory]
    [InlineData(false, 0L, KernelKind.Linear)]
    [InlineData(false, null, KernelKind.Linear)]
    [InlineData(false, 5L, KernelKind.Rbf)]
    [InlineData(true, 0L, KernelKind.Linear)]
    [InlineData(true, null, KernelKind.Linear)]
    [InlineData(true, 5L, KernelKind.Rbf)]
    public void An_npz_streams_to_the_same_map_as_loading_it(bool deflated, long? shuffle, KernelKind kernel)
    {
        var arrays = Layers(700, 1, 12, 30, 7);
        string path = Write("acts.npz", arrays, compress: deflated);
        Assert.Equal(deflated, StoredArray.OfNpz(path)!.All(m => m.Deflated));
        int left = InflatedFilesLeft();
        var streamed = CkaFiles.Heatmap(new CkaHeatmapRequest(path, null, BatchSize: 64, Kernel: kernel, ShuffleSeed: shuffle));
        var loaded = Loaded(path, null, new BatchPlan(700, 64, shuffle), kernel, out var acc);
        AssertIdentical(loaded, streamed.Matrix);
        Assert.InRange(streamed.Matrix[0, 2], 0.05, 0.98);
        Assert.Equal(acc.Batches, streamed.Batches);
        // The checksum was taken on the way; it is the file's SHA-256. No inflated copy is left behind.
        Assert.Equal(InputFile.Of(path), Assert.Single(streamed.Inputs!));
        Assert.Equal(left, InflatedFilesLeft());
    }

    [Fact]
    public void A_corrupt_deflated_member_is_refused_before_any_batch()
    {
        string path = Write("corrupt.npz", Layers(300, 12, 10, 4), compress: true);
        long offset;
        using (var zip = System.IO.Compression.ZipFile.OpenRead(path)) { offset = zip.Entries[0].CompressedLength / 2; }
        using (var f = File.Open(path, FileMode.Open))
        {
            f.Position = 100 + offset;   // inside layer0's deflated data (its local header is about 100 bytes)
            int v = f.ReadByte();
            f.Position--;
            f.WriteByte((byte)(v ^ 0x5A));
        }
        var e = Assert.Throws<RepscopeException>(() => CkaFiles.Heatmap(new CkaHeatmapRequest(path, null, BatchSize: 64)));
        Assert.StartsWith($"{path}: member 'layer0.npy' is corrupt: ", e.Message);
    }

    [Fact]
    public void Two_stored_models_stream_to_the_same_map_and_labels_are_skipped_alike()
    {
        var labels = NdArray.FromInt64("labels", Enumerable.Range(0, 300).Select(i => (long)(i / 30)).ToArray(), 300);
        var a = Layers(300, 2, 9, 16).Append(labels).ToList();
        var b = Layers(300, 3, 5, 11, 20);
        var streamed = CkaFiles.Heatmap(new CkaHeatmapRequest(Write("a.npz", a, false), Write("b.npz", b, false), BatchSize: 50));
        var loaded = CkaFiles.Heatmap(new CkaHeatmapRequest(Write("a2.npz", a, true), Write("b2.npz", b, true), BatchSize: 50));
        AssertIdentical(loaded.Matrix, streamed.Matrix);
        Assert.Equal(2, streamed.Inputs!.Count);
        Assert.Contains(streamed.Notes!, n => n.Contains("skipped 'labels'"));
        Assert.Contains(streamed.Warnings, w => w.Contains("array 'labels' is sorted"));
    }

    [Fact]
    public void A_pair_of_npy_files_streams_to_the_value_of_the_loaded_tensors()
    {
        var arrays = Layers(520, 4, 40, 13);
        string x = Path.Combine(_dir, "x.npy"), y = Path.Combine(_dir, "y.npy");
        Npy.Write(x, arrays[0]);
        Npy.Write(y, arrays[1]);
        var r = CkaFiles.Pair(new CkaPairRequest(x, y, BatchSize: 100));
        using var tx = arrays[0].ToTensor(TorchSharp.torch.ScalarType.Float32);
        using var ty = arrays[1].ToTensor(TorchSharp.torch.ScalarType.Float32);
        var expected = Cka.MinibatchDetailed(tx, ty, new BatchPlan(520, 100, CkaPlan.DefaultShuffleSeed));
        Assert.Equal(expected.Value, r.Cka);
        Assert.Equal(5, r.Batches);
    }

    [Fact]
    public void A_nan_in_a_stored_member_is_the_loading_paths_one_line_error()
    {
        var arrays = Layers(400, 5, 6, 8);
        var bad = arrays[1].ToFloat64().Select(v => (float)v).ToArray();
        bad[390 * 8 + 3] = float.NaN;   // in the last batch
        arrays[1] = NdArray.FromFloat32("layer1", bad, 400, 8);
        string path = Write("nan.npz", arrays, compress: false);
        var e = Assert.Throws<NonFiniteDataException>(() => CkaFiles.Heatmap(new CkaHeatmapRequest(path, null, BatchSize: 64)));
        Assert.Equal($"{path}: array 'layer1': contains NaN or infinite values", e.Message);
    }

    /// <summary>
    /// A NaN that corruption put into a member is reported as the corrupt member (its CRC-32 is checked as soon as the
    /// bad value is seen, not after a pass over the whole file); the whole-file pass is stopped on any failure.
    /// </summary>
    [Fact]
    public void A_nan_from_corruption_is_reported_as_the_corrupt_member()
    {
        string path = Write("corrupt-nan.npz", Layers(400, 8, 6, 8), compress: false);
        var member = Assert.Single(StoredArray.OfNpz(path)!, m => m.Name == "layer1");
        using (var f = File.Open(path, FileMode.Open))
        {
            f.Position = member.DataOffset + 4 * 8 * 3;   // row 3: the first batch in file order
            f.Write(BitConverter.GetBytes(float.NaN));
        }
        var e = Assert.Throws<RepscopeException>(() => CkaFiles.Heatmap(new CkaHeatmapRequest(path, null, BatchSize: 64, ShuffleSeed: null)));
        Assert.StartsWith($"{path}: member 'layer1.npy' is corrupt: its CRC-32 is ", e.Message);
        Assert.Throws<RepscopeException>(() => member.VerifyMember());
        Assert.Single(StoredArray.OfNpz(path)!, m => m.Name == "layer0").VerifyMember();   // an intact member passes
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() => StoredArray.VerifyAndHash(path, [member], cancelled.Token));
    }

    [Fact]
    public void A_flipped_bit_in_a_stored_member_fails_its_crc()
    {
        string path = Write("flip.npz", Layers(300, 6, 10, 4), compress: false);
        var member = Assert.Single(StoredArray.OfNpz(path)!, m => m.Name == "layer0");
        using (var f = File.Open(path, FileMode.Open))
        {
            f.Position = member.DataOffset + 1000;
            int v = f.ReadByte();
            f.Position--;
            f.WriteByte((byte)(v ^ 0x10));
        }
        var e = Assert.Throws<RepscopeException>(() => CkaFiles.Heatmap(new CkaHeatmapRequest(path, null, BatchSize: 64)));
        Assert.Matches("^" + System.Text.RegularExpressions.Regex.Escape(path) + ": member 'layer0.npy' is corrupt: its CRC-32 is [0-9a-f]{8}, the archive says [0-9a-f]{8}$", e.Message);
    }

    /// <summary>
    /// `heatmap --shard` streams stored and deflated members too: each shard's sums are those of the loading path to the
    /// last bit (the same batches, read instead of loaded), and the merged shards give the unsharded map.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Shards_of_an_npz_stream_to_the_loaded_shards_and_merge_to_the_unsharded_map(bool twoModels)
    {
        var a = Layers(600, 9, 10, 24, 5);
        var b = Layers(600, 9, 7, 13);   // the same latent factor as a (seed 9): related models
        var stored = new CkaHeatmapRequest(Write("sa.npz", a, false), twoModels ? Write("sb.npz", b, false) : null, BatchSize: 50);
        var deflated = stored with { A = Write("da.npz", a, true), B = twoModels ? Write("db.npz", b, true) : null };
        var states = new List<string>();
        for (int k = 1; k <= 3; k++)
        {
            foreach (var request in new[] { stored, deflated })
            {
                string state = Path.Combine(_dir, $"state-{k}-{Path.GetFileName(request.A)}");
                Repscope.Cluster.CkaShards.Accumulate(request, new Repscope.Cluster.ShardSpec(k, 3), state);
                var (info, sums) = Repscope.Cluster.CkaShards.Read(state);
                Loaded(request.A, request.B, new BatchPlan(600, 50, CkaPlan.DefaultShuffleSeed), KernelKind.Linear, out var acc,
                       (int)info.FirstBatch, (int)info.EndBatch);
                var expected = acc.Sums();
                Assert.Equal(expected.Cross.Cast<double>(), sums.Cross.Cast<double>());
                Assert.Equal(expected.RowSelf, sums.RowSelf);
                Assert.Equal(expected.ColumnSelf, sums.ColumnSelf);
                Assert.Equal(InputFile.Of(request.A).Sha256, info.Inputs[0].Sha256);
                if (request == stored) { states.Add(state); }
            }
        }
        var (merged, _) = Repscope.Cluster.CkaShards.Merge(states);
        var whole = CkaFiles.Heatmap(stored);
        Assert.Equal(whole.Batches, merged.Batches);
        for (int i = 0; i < whole.Matrix.Rows.Count; i++)
        {
            for (int j = 0; j < whole.Matrix.Columns.Count; j++) { Assert.Equal(whole.Matrix[i, j], merged.Matrix[i, j], 1e-12); }
        }
        Assert.InRange(whole.Matrix[0, 1], 0.05, 0.98);
        // --layers chooses the arrays of a shard as of the unsharded map
        string chosen = Path.Combine(_dir, "chosen.npz");
        var picked = Repscope.Cluster.CkaShards.Accumulate(stored with { Layers = ["layer0", "layer2"] }, new Repscope.Cluster.ShardSpec(1, 1), chosen);
        Assert.Equal(["layer0", "layer2"], picked.Rows);
    }

    /// <summary>The peak resident memory (bytes) of `repscope ARGS` run as a separate process, which must exit 0.</summary>
    private long PeakOf(params string[] args)
    {
        string report = Path.Combine(_dir, "time.txt");
        var psi = new ProcessStartInfo("/usr/bin/time") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { "-f", "%M", "-o", report, "dotnet", Path.Combine(AppContext.BaseDirectory, "Repscope.Cli.dll") }.Concat(args))
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["OMP_NUM_THREADS"] = "1";
        using var p = Process.Start(psi)!;
        p.StandardOutput.ReadToEnd();
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, err);
        return long.Parse(File.ReadAllText(report).Trim().Split('\n')[^1]) << 10;
    }

    /// <summary>Uniform random float32 layers of n x 4,096 (16 KiB a row).</summary>
    private static IEnumerable<NdArray> Uniform(int layers, int n)
    {
        var rng = new Random(7);
        return Enumerable.Range(0, layers).Select(l =>
        {
            var x = new float[n * 4096];
            for (int i = 0; i < x.Length; i++) { x[i] = (float)rng.NextDouble(); }
            return NdArray.FromFloat32($"layer{l}", x, n, 4096);
        });
    }

    /// <summary>
    /// `repscope heatmap` as a separate process on a 256 MB stored or deflated .npz peaks within 96 MB of the same command
    /// on a 2 MB one (the loading path held the whole input: +256 MB and more; a deflated member is inflated to a
    /// temporary file, not to memory).
    /// </summary>
    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_heatmap_of_a_large_npz_holds_a_few_batches_not_the_input(bool deflated)
    {
        Skip.IfNot(File.Exists("/usr/bin/time"), "needs /usr/bin/time for the peak memory of a child process");
        long Peak(int n)
        {
            string npz = Write($"layers{n}.npz", Uniform(4, n), compress: deflated);
            return PeakOf("heatmap", npz, "--out", Path.Combine(_dir, "out"), "--batch-size", "256");
        }
        long small = Peak(32);
        long large = Peak(4096);
        Assert.True(large - small < 96L << 20, $"peak {large >> 20} MB on a 256 MB input vs {small >> 20} MB on a 2 MB one");
    }

    /// <summary>
    /// Issue 15, hostile input 6: `repscope cka X.npy X.npy` on a 256 MB .npy (16,384 rows, so minibatches) peaks within
    /// 96 MB of the same command on a 32 MB one (2,048 rows, the smallest n that is batched too): the rows are read batch
    /// by batch, not loaded (a 2 GB input once peaked at 12 GB, 6x the input).
    /// </summary>
    [SkippableFact]
    public void Cka_of_a_large_npy_against_itself_holds_a_few_batches_not_the_input()
    {
        Skip.IfNot(File.Exists("/usr/bin/time"), "needs /usr/bin/time for the peak memory of a child process");
        long Peak(int n)
        {
            string x = Path.Combine(_dir, $"x{n}.npy");
            Npy.Write(x, Uniform(1, n).Single());
            return PeakOf("cka", x, x, "--batch-size", "256");
        }
        long small = Peak(2048);
        long large = Peak(16384);
        Assert.True(large - small < 96L << 20, $"peak {large >> 20} MB on a 256 MB input vs {small >> 20} MB on a 32 MB one");
    }
}
