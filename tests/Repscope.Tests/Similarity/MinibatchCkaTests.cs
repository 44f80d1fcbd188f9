using Repscope.Similarity;
using TorchSharp;
using static Repscope.Tests.Similarity.SimilarityTestData;
using static TorchSharp.torch;

namespace Repscope.Tests.Similarity;

public class MinibatchCkaTests
{
    [Theory]
    [InlineData(KernelKind.Linear)]
    [InlineData(KernelKind.Rbf)]
    public void OneBatchEqualsUnbiasedWholeData(KernelKind kernel)
    {
        foreach (long seed in new long[] { 1, 2 })
        {
            var x = Randn(seed, 40, 7);
            var y = Related(x, seed, 5);
            double whole = Cka.Compute(x, y, new CkaOptions(kernel, HsicEstimator.Unbiased));
            Assert.Equal(whole, Cka.Minibatch(x, y, 40, kernel), 12);
            Assert.Equal(whole, Cka.Minibatch(x, y, 1000, kernel), 12);
        }
    }

    [Fact]
    public void MatchesEquationThreeBatchByBatch()
    {
        var x = Randn(5, 103, 6);
        var y = Related(x, 5, 9);
        // 103 = 4 x 25 + 3: the trailing 3 rows are dropped with a warning.
        var r = Cka.MinibatchDetailed(x, y, 25);
        Assert.Equal(ReferenceMinibatch(x, y, 25), r.Value, 12);
        Assert.Equal(4, r.Batches);
        Assert.Equal(3, r.DroppedRows);
        Assert.Contains("3 rows", Assert.Single(r.Warnings));
        // 105 = 4 x 25 + 5: the trailing batch of 5 counts, with the same weight as the others.
        var x2 = Randn(6, 105, 6);
        var y2 = Related(x2, 6, 9);
        var r2 = Cka.MinibatchDetailed(x2, y2, 25);
        Assert.Equal(ReferenceMinibatch(x2, y2, 25), r2.Value, 12);
        Assert.Equal(5, r2.Batches);
        Assert.Empty(r2.Warnings);
    }

    [Fact]
    public void AllPairsEqualPairByPair()
    {
        var layers = Enumerable.Range(0, 4).Select(i => i == 0 ? Randn(10, 64, 5) : Randn(10 + i, 64, 3 + 2 * i)).ToList();
        layers[2] = Related(layers[1], 3, 6, noise: 0.5);
        string[] names = ["a", "b", "c", "d"];
        var m = AllPairsCka.Minibatch(layers, names, null, null, 20, KernelKind.Linear, 0.5, null, out var acc);
        Assert.Equal(4, acc.Batches); // 20, 20, 20, 4
        for (int i = 0; i < 4; i++)
        {
            for (int j = 0; j < 4; j++)
            {
                Assert.Equal(Cka.Minibatch(layers[i], layers[j], 20), m[i, j], 12);
            }
        }
        Assert.True(m[1, 2] > 0.3); // related layers are similar, so the comparison is not of zeros
        // Across two models: rows from the first list, columns from the second.
        var other = new[] { Related(layers[0], 7, 4), Randn(40, 64, 8) };
        var cross = AllPairsCka.Minibatch(layers, names, other, ["p", "q"], 20, KernelKind.Linear, 0.5, null, out _);
        for (int i = 0; i < 4; i++)
        {
            for (int j = 0; j < 2; j++) { Assert.Equal(Cka.Minibatch(layers[i], other[j], 20), cross[i, j], 12); }
        }
        Assert.Equal(["p", "q"], cross.Columns);
    }

    [Fact]
    public void RbfAllPairsEqualPairByPair()
    {
        var a = Randn(21, 48, 5);
        var b = Related(a, 21, 4);
        var m = AllPairsCka.Minibatch([a, b], ["a", "b"], null, null, 16, KernelKind.Rbf, 0.8, null, out _);
        Assert.Equal(Cka.Minibatch(a, b, 16, KernelKind.Rbf, 0.8), m[0, 1], 12);
        Assert.Equal(m[0, 1], m[1, 0], 14);
    }

    [Theory]
    [InlineData(KernelKind.Linear)]
    [InlineData(KernelKind.Rbf)]
    public void WholeDataAllPairsEqualPairByPair(KernelKind kernel)
    {
        // Narrow and wide layers (fewer and more features than the 30 examples), one constant.
        var layers = new[] { Randn(80, 30, 5), Randn(81, 30, 50), Randn(82, 30, 12), torch.ones(30, 4, dtype: ScalarType.Float64) };
        layers[2] = Related(layers[0], 83, 12, noise: 0.7);
        var options = new CkaOptions(kernel, HsicEstimator.Biased);
        var m = AllPairsCka.WholeData(layers, ["a", "b", "c", "dead"], null, null, options);
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 3; j++) { Assert.Equal(Cka.Compute(layers[i], layers[j], options), m[i, j], 12); }
            Assert.True(double.IsNaN(m[i, 3]) && double.IsNaN(m[3, i]));
        }
        var cross = AllPairsCka.WholeData(layers[..2], ["a", "b"], layers[1..3], ["b", "c"], options);
        Assert.Equal(Cka.Compute(layers[0], layers[2], options), cross[0, 1], 12);
        Assert.Equal(1.0, cross[1, 0], 12);
    }

    [Theory]
    [InlineData(KernelKind.Rbf, HsicEstimator.Biased)]
    [InlineData(KernelKind.Rbf, HsicEstimator.Unbiased)]
    [InlineData(KernelKind.Linear, HsicEstimator.Unbiased)]
    [InlineData(KernelKind.Linear, HsicEstimator.Biased)]
    public void WholeDataGramsComputedOncePerLayerEqualPairByPair(KernelKind kernel, HsicEstimator estimator)
    {
        // Float32 and wide layers (features > examples) too; one constant layer; budgets of 1, 2 and all Grams at once.
        var layers = new[] { Randn(90, 40, 6), Randn(91, 40, 70), Randn(92, 40, 9), torch.ones(40, 3, dtype: ScalarType.Float64), Randn(93, 40, 11) };
        layers[2] = Related(layers[0], 94, 9, noise: 0.6);
        layers[4] = Related(layers[1], 95, 11, noise: 1.5);
        string[] names = ["a", "b", "c", "dead", "e"];
        var options = new CkaOptions(kernel, estimator, 0.8);
        var other = new[] { Related(layers[2], 96, 5, noise: 0.4), Randn(97, 40, 45) };
        foreach (long budget in new long[] { 2 * 40 * 40 * 8, 4 * 40 * 40 * 8, AllPairsCka.GramBudgetBytes })
        {
            var m = AllPairsCka.WholeData(layers, names, null, null, options, null, budget);
            var cross = AllPairsCka.WholeData(layers, names, other, ["p", "q"], options, null, budget);
            for (int i = 0; i < layers.Length; i++)
            {
                for (int j = 0; j < layers.Length; j++)
                {
                    if (i == 3 || j == 3) { Assert.True(double.IsNaN(m[i, j]), $"{names[i]} vs {names[j]}: {m[i, j]}"); continue; }
                    Assert.Equal(Cka.Compute(layers[i], layers[j], options), m[i, j], 12);
                }
                for (int j = 0; j < other.Length; j++)
                {
                    if (i == 3) { Assert.True(double.IsNaN(cross[i, j])); continue; }
                    Assert.Equal(Cka.Compute(layers[i], other[j], options), cross[i, j], 12);
                }
            }
            Assert.True(m[0, 2] > 0.3 && m[1, 4] > 0.05 && m[1, 4] < 0.99, $"{m[0, 2]}, {m[1, 4]}");   // related layers are similar, not identical
            // Float32 layers: the same Grams in float32 products agree with their float64 map.
            var m32 = AllPairsCka.WholeData(layers.Select(t => t.to_type(ScalarType.Float32)).ToArray(), names, null, null, options, null, budget);
            for (int i = 0; i < layers.Length; i++)
            {
                for (int j = 0; j < layers.Length; j++) { if (i != 3 && j != 3) { Assert.Equal(m[i, j], m32[i, j], 5); } }
            }
        }
    }

    [Fact]
    public void MergedAccumulatorsEqualTheWhole()
    {
        var layers = new[] { Randn(30, 90, 6), Randn(31, 90, 4), Randn(32, 90, 9) };
        string[] names = ["x", "y", "z"];
        var whole = new MinibatchCkaAccumulator(names);
        var first = new MinibatchCkaAccumulator(names);
        var second = new MinibatchCkaAccumulator(names);
        for (int s = 0; s < 90; s += 15)
        {
            var batch = layers.Select(t => t.narrow(0, s, 15)).ToArray();
            whole.Add(batch);
            (s < 45 ? first : second).Add(batch);
        }
        first.Merge(second);
        var expected = whole.Result();
        var merged = first.Result();
        Assert.Equal(whole.Batches, first.Batches);
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 3; j++) { Assert.Equal(expected[i, j], merged[i, j], 13); }
        }
        Assert.NotEqual(0.0, expected[0, 1]);
    }

    [Fact]
    public void CrossModelMergeEqualsTheWhole()
    {
        var a = new[] { Randn(40, 60, 5) };
        var b = new[] { Related(a[0], 40, 3), Randn(41, 60, 2) };
        var whole = new MinibatchCkaAccumulator(["a"], ["b1", "b2"]);
        var parts = new[] { new MinibatchCkaAccumulator(["a"], ["b1", "b2"]), new MinibatchCkaAccumulator(["a"], ["b1", "b2"]) };
        for (int s = 0; s < 60; s += 20)
        {
            var ra = a.Select(t => t.narrow(0, s, 20)).ToArray();
            var rb = b.Select(t => t.narrow(0, s, 20)).ToArray();
            whole.Add(ra, rb);
            parts[s == 0 ? 0 : 1].Add(ra, rb);
        }
        parts[0].Merge(parts[1]);
        Assert.Equal(whole.Result()[0, 0], parts[0].Result()[0, 0], 13);
        Assert.Equal(whole.Result()[0, 1], parts[0].Result()[0, 1], 13);
    }

    [Fact]
    public void ConstantLayerIsUndefined()
    {
        var x = Randn(50, 32, 4);
        var constant = torch.full(32, 6, 0.25, dtype: ScalarType.Float32);
        var m = AllPairsCka.Minibatch([x, constant], ["live", "dead"], null, null, 16, KernelKind.Linear, 0.5, null, out _);
        Assert.Equal(1.0, m[0, 0], 12);
        Assert.True(double.IsNaN(m[1, 1]));
        Assert.True(double.IsNaN(m[0, 1]));
        var e = Assert.Throws<UndefinedResultException>(() => Cka.Minibatch(x, constant, 16));
        Assert.Contains("y", e.Message);
        var e2 = Assert.Throws<UndefinedResultException>(() => Cka.Compute(constant, x, CkaOptions.Default, "dead.npy", "x.npy"));
        Assert.Contains("dead.npy", e2.Message);
        Assert.Throws<UndefinedResultException>(() => Cka.Compute(x, constant, new CkaOptions(KernelKind.Rbf, HsicEstimator.Biased)));
        Assert.Throws<UndefinedResultException>(() => Cka.Compute(x, constant, new CkaOptions(KernelKind.Linear, HsicEstimator.Unbiased)));
    }

    [Fact]
    public void LayerConstantInOneBatchOnlyStaysDefined()
    {
        // Rows 0..19 of x are identical (a dead unit pattern in the first batch only): that batch
        // contributes zero HSIC, the others count as usual (paper Eq. 3 with equal weights).
        var x = Randn(70, 60, 5) + 4.0;
        x.narrow(0, 0, 20).copy_(x[0].unsqueeze(0).expand(20, 5));
        var y = Related(x, 70, 4);
        Assert.Equal(ReferenceMinibatch(x, y, 20), Cka.Minibatch(x, y, 20), 9);
        Assert.Equal(ReferenceMinibatch(x, y, 20), Cka.Minibatch(x.to_type(ScalarType.Float32), y.to_type(ScalarType.Float32), 20), 6);
        // Small but real variation (1e-3 of the mean, far above float32 resolution) is not "constant".
        var tiny = torch.full(40, 3, 10.0, dtype: ScalarType.Float64) + 0.01 * Randn(71, 40, 3);
        double v = Cka.Minibatch(tiny.to_type(ScalarType.Float32), Related(tiny, 71, 2).to_type(ScalarType.Float32), 20);
        Assert.True(Math.Abs(v - Cka.Minibatch(tiny, Related(tiny, 71, 2), 20)) < 1e-4, $"{v}");
    }

    [Fact]
    public void BadInputsFailWithAClearMessage()
    {
        var x = Randn(60, 20, 3);
        Assert.Contains("rows", Assert.Throws<RepscopeException>(() => Cka.Linear(x, Randn(61, 19, 3))).Message);
        var bad = x.clone();
        bad[3, 1] = torch.tensor(double.NaN);
        Assert.Contains("NaN", Assert.Throws<RepscopeException>(() => Cka.Compute(bad, x, CkaOptions.Default, "bad.npy", "x.npy")).Message);
        Assert.Throws<RepscopeException>(() => Cka.Minibatch(x, x, 3));
        Assert.Throws<UndefinedResultException>(() => Cka.Minibatch(x.narrow(0, 0, 3), x.narrow(0, 0, 3), 8));
        Assert.Throws<UndefinedResultException>(() => Cka.Compute(x.narrow(0, 0, 3), x.narrow(0, 0, 3), new CkaOptions(Estimator: HsicEstimator.Unbiased)));
        var acc = new MinibatchCkaAccumulator(["a", "b"]);
        Assert.Contains("'b'", Assert.Throws<RepscopeException>(() => acc.Add([x, x.narrow(0, 0, 10)])).Message);
        foreach (double v in new[] { double.NaN, double.PositiveInfinity })
        {
            var broken = x.to_type(ScalarType.Float32);
            broken[5, 2] = torch.tensor((float)v);
            var e = Assert.Throws<RepscopeException>(() => acc.Add([x, broken]));
            Assert.Contains("layer 'b': contains NaN or infinite", e.Message);
        }
    }
}
