using Repscope.Interop;
using Repscope.Similarity;
using Repscope.Tests.Data;
using TorchSharp;
using static Repscope.Tests.Similarity.SimilarityTestData;
using static TorchSharp.torch;

namespace Repscope.Tests.Similarity;

/// <summary>
/// Issue 15, hostile 4: CKA of finite data at extreme scales came out NaN (float32 x 1e19 or x 1e-25, float64 x 1e200)
/// or "constant" (minibatch, x 1e-25). CKA is scale-invariant: CKA(cX, Y) = CKA(X, Y) in every path.
/// </summary>
public class ExtremeScaleTests
{
    public static TheoryData<ScalarType, double> Scales => new()
    {
        { ScalarType.Float32, 1e-30 }, { ScalarType.Float32, 1e30 }, { ScalarType.Float32, 1e19 }, { ScalarType.Float32, 1e-25 },
        { ScalarType.Float64, 1e-30 }, { ScalarType.Float64, 1e30 }, { ScalarType.Float64, 1e200 }, { ScalarType.Float64, 1e-200 },
    };

    /// <summary>float32: the scaled copy rounds each element once (relative 6e-8); float64: 1e-16.</summary>
    private static int Digits(ScalarType type) => type == ScalarType.Float32 ? 5 : 11;

    private static (Tensor X, Tensor Y) Pair(ScalarType type)
    {
        var x = Randn(1, 96, 40);
        var y = Related(x, 1, 24);
        return (x.to_type(type), y.to_type(type));
    }

    [Theory, MemberData(nameof(Scales))]
    public void WholeDataCkaIsScaleInvariantForEveryKernelAndEstimator(ScalarType type, double c)
    {
        var (x, y) = Pair(type);
        var scaled = (x * c).to_type(type);
        Assert.True(torch.isfinite(scaled).all().item<bool>());
        foreach (var options in new[] { new CkaOptions(KernelKind.Linear, HsicEstimator.Biased), new CkaOptions(KernelKind.Linear, HsicEstimator.Unbiased),
                                        new CkaOptions(KernelKind.Rbf, HsicEstimator.Biased), new CkaOptions(KernelKind.Rbf, HsicEstimator.Unbiased) })
        {
            double reference = Cka.Compute(x, y, options);
            Assert.InRange(reference, 0.05, 0.99);
            Assert.Equal(reference, Cka.Compute(scaled, y, options), Digits(type));
            Assert.Equal(1.0, Cka.Compute(scaled, scaled, options), Digits(type));
        }
        Assert.Equal(LinearCka.FeatureSpace(x, y), LinearCka.FeatureSpace(scaled, y), Digits(type));
        Assert.Equal(LinearCka.GramSpace(x, y), LinearCka.GramSpace(scaled, y), Digits(type));
    }

    [Theory, MemberData(nameof(Scales))]
    public void MinibatchAndAllPairsCkaAreScaleInvariant(ScalarType type, double c)
    {
        var (x, y) = Pair(type);
        var scaled = (x * c).to_type(type);
        double reference = Cka.Minibatch(x, y, 32);
        Assert.Equal(reference, Cka.Minibatch(scaled, y, 32), Digits(type));
        Assert.Equal(reference, Cka.Minibatch(scaled, (y * c).to_type(type), 32), Digits(type));
        Assert.Equal(Cka.Minibatch(x, y, 32, KernelKind.Rbf), Cka.Minibatch(scaled, y, 32, KernelKind.Rbf), Digits(type));

        // All pairs within one model and across two, minibatch and whole data.
        var within = AllPairsCka.Minibatch([x, y], ["x", "y"], null, null, 32, KernelKind.Linear, 0.5, null, out _);
        var withinScaled = AllPairsCka.Minibatch([scaled, y], ["x", "y"], null, null, 32, KernelKind.Linear, 0.5, null, out _);
        var across = AllPairsCka.Minibatch([scaled], ["x"], [y, scaled], ["y", "x"], 32, KernelKind.Linear, 0.5, null, out _);
        var whole = AllPairsCka.WholeData([scaled, y], ["x", "y"], null, null, new CkaOptions(KernelKind.Linear, HsicEstimator.Biased), null);
        Assert.Equal(within.Values[0, 1], withinScaled.Values[0, 1], Digits(type));
        Assert.Equal(within.Values[0, 1], across.Values[0, 0], Digits(type));
        Assert.Equal(1.0, across.Values[0, 1], Digits(type));
        Assert.Equal(Cka.Linear(x, y), whole.Values[0, 1], Digits(type));
    }

    /// <summary>
    /// Batches of one layer at different scales (each batch brought to a safe scale on its own, its HSIC values put
    /// back on the layer's scale exactly), and accumulators merged: the value Eq. 3 gives for the scaled batches.
    /// </summary>
    [Fact]
    public void BatchesAtDifferentScalesAndMergedAccumulatorsGiveEquationThreesValue()
    {
        var (x, y) = Pair(ScalarType.Float64);
        double[] s = [1e7, 3e6, 2e7];      // outside the safe range, a different power of two per batch
        double[] t = [1e-7, 4e-7, 2e-7];
        var single = new MinibatchCkaAccumulator(["x"], ["y"]);
        var first = new MinibatchCkaAccumulator(["x"], ["y"]);
        var rest = new MinibatchCkaAccumulator(["x"], ["y"]);
        var uniform = new MinibatchCkaAccumulator(["x"], ["y"]);
        double cross = 0, xx = 0, yy = 0;
        for (int k = 0; k < 3; k++)
        {
            var xb = x.narrow(0, 32 * k, 32);
            var yb = y.narrow(0, 32 * k, 32);
            single.Add([xb * s[k]], [yb * t[k]]);
            (k == 0 ? first : rest).Add([xb * s[k]], [yb * t[k]]);
            uniform.Add([xb * 1e150], [yb * 1e-150]);
            var kx = Gram.Linear(xb);
            var ly = Gram.Linear(yb);
            cross += s[k] * s[k] * t[k] * t[k] * Hsic.Unbiased(kx, ly);
            xx += Math.Pow(s[k], 4) * Hsic.Unbiased(kx, kx);
            yy += Math.Pow(t[k], 4) * Hsic.Unbiased(ly, ly);
        }
        double expected = cross / Math.Sqrt(xx * yy);
        Assert.InRange(expected, 0.05, 0.99);
        Assert.Equal(expected, single.Result().Values[0, 0], 10);
        // Stored and restored between jobs (heatmap --shard / merge): the sums carry their layers' scales.
        var restored = MinibatchCkaAccumulator.Restore(["x"], ["y"], crossModel: true, KernelKind.Linear, 0.5, rest.Sums());
        restored.Merge(MinibatchCkaAccumulator.Restore(["x"], ["y"], crossModel: true, KernelKind.Linear, 0.5, first.Sums()));
        Assert.Equal(expected, restored.Result().Values[0, 0], 10);
        rest.Merge(first);
        Assert.Equal(expected, rest.Result().Values[0, 0], 10);
        Assert.Equal(Cka.Minibatch(x, y, 32), uniform.Result().Values[0, 0], 11);
    }

    /// <summary>The `cka` command's path (CkaFiles.Pair on .npy files): the cases of the report, now the right value, not NaN.</summary>
    [Theory]
    [InlineData(ScalarType.Float32, 1e19)]
    [InlineData(ScalarType.Float32, 1e-25)]
    [InlineData(ScalarType.Float64, 1e200)]
    public void CkaOfNpyFilesAtExtremeScalesIsTheValueOfTheUnscaledData(ScalarType type, double c)
    {
        using var dir = new TempDir();
        var (x, y) = Pair(type);
        NdArray Array(string name, Tensor t) => NdArray.FromTensor(name, t.contiguous());
        Npy.Write(dir.File("x.npy"), Array("x", x));
        Npy.Write(dir.File("y.npy"), Array("y", y));
        Npy.Write(dir.File("xc.npy"), Array("xc", (x * c).to_type(type)));
        foreach (int? batch in new int?[] { null, 32 })
        {
            var reference = CkaFiles.Pair(new CkaPairRequest(dir.File("x.npy"), dir.File("y.npy"), Estimator: batch is null ? HsicEstimator.Biased : HsicEstimator.Unbiased, BatchSize: batch));
            var scaled = CkaFiles.Pair(new CkaPairRequest(dir.File("xc.npy"), dir.File("y.npy"), Estimator: batch is null ? HsicEstimator.Biased : HsicEstimator.Unbiased, BatchSize: batch));
            Assert.Null(scaled.Error);
            Assert.Equal(reference.Cka, scaled.Cka, Digits(type));
        }
    }
}
