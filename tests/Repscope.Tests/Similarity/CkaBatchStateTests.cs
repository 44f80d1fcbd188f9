using Repscope.Similarity;
using TorchSharp;
using static Repscope.Tests.Similarity.SimilarityTestData;
using static TorchSharp.torch;

namespace Repscope.Tests.Similarity;

/// <summary>Per-batch HSIC state of minibatch CKA: the point estimate unchanged, bootstrap over batches, save / load.</summary>
public class CkaBatchStateTests
{
    private static readonly string[] Names = ["a", "b", "c"];

    private static List<Tensor> Layers(long seed, int n)
    {
        var a = Randn(seed, n, 5);
        return [a, Related(a, seed + 1, 4, noise: 0.7), Randn(seed + 2, n, 6)];
    }

    private static List<Tensor> Batch(List<Tensor> layers, int start, int size) => layers.Select(t => t.narrow(0, start, size)).ToList();

    private static MinibatchCkaAccumulator Feed(List<Tensor> layers, int batch, bool keep, int[]? order = null)
    {
        var acc = new MinibatchCkaAccumulator(Names) { KeepBatches = keep };
        int k = (int)layers[0].shape[0] / batch;
        foreach (int b in order ?? Enumerable.Range(0, k).ToArray()) { acc.Add(Batch(layers, b * batch, batch)); }
        return acc;
    }

    private static void SameBits(CkaMatrix expected, CkaMatrix actual)
    {
        for (int i = 0; i < expected.Rows.Count; i++)
        {
            for (int j = 0; j < expected.Columns.Count; j++)
            {
                Assert.Equal(BitConverter.DoubleToInt64Bits(expected[i, j]), BitConverter.DoubleToInt64Bits(actual[i, j]));
            }
        }
    }

    [Fact]
    public void KeepingBatchesChangesNoNumberAndTheStateGivesTheSameMap()
    {
        var layers = Layers(1, 120);
        var plain = Feed(layers, 20, keep: false).Result();
        var acc = Feed(layers, 20, keep: true);
        SameBits(plain, acc.Result());
        var state = acc.BatchState();
        Assert.Equal(6, state.Batches);
        SameBits(plain, state.Result());
        Assert.Throws<InvalidOperationException>(() => Feed(layers, 20, keep: false).BatchState());
    }

    [Fact]
    public void AResampleOfBatchesIsTheCkaOfThoseBatches()
    {
        var layers = Layers(2, 120);
        var state = Feed(layers, 20, keep: true).BatchState();
        int[] draw = [3, 3, 0, 5, 1, 3];
        // Second formulation: a fresh accumulator fed the drawn batches.
        var direct = Feed(layers, 20, keep: false, draw).Result();
        var resampled = state.Result(draw);
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 3; j++) { Assert.Equal(direct[i, j], resampled[i, j], 12); }
        }
    }

    [Fact]
    public void BootstrapIsDeterministicWhateverTheThreadCountAndVaries()
    {
        var state = Feed(Layers(3, 200), 20, keep: true).BatchState();
        var one = state.Bootstrap(50, seed: 9, threads: 1);
        var many = state.Bootstrap(50, seed: 9, threads: 4);
        for (int r = 0; r < 50; r++) { SameBits(one[r], many[r]); }
        var values = one.Select(m => m[0, 1]).ToArray();
        Assert.True(values.Max() - values.Min() > 1e-3, "replicates should differ");
        double point = state.Result()[0, 1];
        Assert.InRange(values.Average(), point - 0.05, point + 0.05);
        var other = state.Bootstrap(50, seed: 10);
        Assert.NotEqual(values, other.Select(m => m[0, 1]).ToArray());
        Assert.Throws<RepscopeException>(() => Feed(Layers(3, 40), 40, keep: true).BatchState().Bootstrap(5, 1));
    }

    [Fact]
    public void MergeConcatenatesTheBatches()
    {
        var layers = Layers(4, 120);
        var first = new MinibatchCkaAccumulator(Names) { KeepBatches = true };
        var second = new MinibatchCkaAccumulator(Names) { KeepBatches = true };
        for (int b = 0; b < 6; b++) { (b < 4 ? first : second).Add(Batch(layers, b * 20, 20)); }
        first.Merge(second);
        var whole = Feed(layers, 20, keep: true).BatchState();
        var merged = first.BatchState();
        Assert.Equal(whole.Batches, merged.Batches);
        for (int b = 0; b < 6; b++) { Assert.Equal(whole.Cross[b], merged.Cross[b]); }
        var plain = new MinibatchCkaAccumulator(Names);
        plain.Add(Batch(layers, 0, 20));
        Assert.Throws<RepscopeException>(() => first.Merge(plain));
    }

    [Fact]
    public void SavedStateLoadsBackAndReBootstraps()
    {
        var layers = Layers(5, 100);
        string dir = Directory.CreateTempSubdirectory("repscope-batchstate").FullName;
        try
        {
            var state = Feed(layers, 25, keep: true).BatchState();
            string path = Path.Combine(dir, "state.npz");
            state.Save(path);
            var back = CkaBatchState.Load(path);
            Assert.Equal(state.Rows, back.Rows);
            Assert.False(back.IsCrossModel);
            Assert.Equal(KernelKind.Linear, back.Kernel);
            SameBits(state.Result(), back.Result());
            SameBits(state.Bootstrap(3, 1)[2], back.Bootstrap(3, 1)[2]);

            // Across two models.
            var other = Layers(6, 100);
            var cross = new MinibatchCkaAccumulator(Names, ["x", "y"], KernelKind.Rbf, 0.8) { KeepBatches = true };
            for (int b = 0; b < 4; b++) { cross.Add(Batch(layers, b * 25, 25), Batch(other, b * 25, 25).Take(2).ToList()); }
            var crossState = cross.BatchState();
            SameBits(cross.Result(), crossState.Result());
            crossState.Save(path);
            var crossBack = CkaBatchState.Load(path);
            Assert.True(crossBack.IsCrossModel);
            Assert.Equal(["x", "y"], crossBack.Columns);
            Assert.Equal((KernelKind.Rbf, 0.8), (crossBack.Kernel, crossBack.RbfThreshold));
            SameBits(cross.Result(), crossBack.Result());

            string bad = Path.Combine(dir, "bad.npz");
            Repscope.Interop.Npz.Write(bad, [Repscope.Interop.NdArray.FromFloat64("x", [1.0])]);
            var e = Assert.Throws<RepscopeException>(() => CkaBatchState.Load(bad));
            Assert.Contains("bad.npz", e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
