using Repscope.Interop;
using Repscope.Similarity;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Tests.Similarity;

/// <summary>
/// The libtorch-free linear CKA of small inputs (<see cref="ManagedLinearCka"/>, what <c>cka</c> on two small .npy files
/// uses) against the libtorch one (<see cref="LinearCka"/>): float64 to 1e-12, float32 inputs (libtorch multiplies them
/// in float32) to 1e-6; both of its forms; extreme scales; constant input; and the file path end to end.
/// </summary>
public sealed class ManagedLinearCkaTests
{
    private static double[] Random(long count, int seed, double scale = 1)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, (int)count).Select(_ => (r.NextDouble() - 0.3) * scale).ToArray();
    }

    /// <summary>Y = X W + noise, so that CKA is well inside (0, 1).</summary>
    private static (double[] X, double[] Y) Related(int n, int p, int q, int seed)
    {
        var x = Random((long)n * p, seed);
        var w = Random((long)p * q, seed + 1);
        var noise = Random((long)n * q, seed + 2);
        var y = new double[(long)n * q];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < q; j++)
            {
                double s = noise[i * q + j];
                for (int k = 0; k < p; k++) { s += x[i * p + k] * w[k * q + j]; }
                y[i * q + j] = s;
            }
        }
        return (x, y);
    }

    private static double Torch(double[] x, int p, double[] y, int q, ScalarType type)
    {
        using var tx = torch.tensor(x).reshape(-1, p).to_type(type);
        using var ty = torch.tensor(y).reshape(-1, q).to_type(type);
        return LinearCka.Compute(tx, ty);
    }

    [Theory]
    [InlineData(200, 12, 7)]    // feature space (p, q < n)
    [InlineData(40, 90, 130)]   // Gram space (p, q >= n)
    [InlineData(60, 30, 200)]   // Gram space (q >= n)
    [InlineData(500, 64, 32)]   // the startup bench's shape
    public void AgreesWithLibTorch(int n, int p, int q)
    {
        var (x, y) = Related(n, p, q, n + p + q);
        double managed = ManagedLinearCka.Compute(x, p, y, q);
        Assert.InRange(managed, 0.05, 0.999);
        Assert.Equal(Torch(x, p, y, q, ScalarType.Float64), managed, 1e-12);
        var x32 = x.Select(v => (double)(float)v).ToArray();
        var y32 = y.Select(v => (double)(float)v).ToArray();
        Assert.Equal(Torch(x32, p, y32, q, ScalarType.Float32), ManagedLinearCka.Compute(x32, p, y32, q), 1e-6);
    }

    [Fact]
    public void BothFormsGiveTheSameValue()
    {
        // 30 rows of 29 and 31 features: feature space for (29, 20), Gram space once a side reaches n; the same CKA of
        // the first 20 columns of Y either way as the only difference is which sum is taken.
        var (x, y) = Related(30, 29, 31, 5);
        var y20 = Enumerable.Range(0, 30).SelectMany(i => y.Skip(i * 31).Take(20)).ToArray();
        double feature = ManagedLinearCka.Compute(x, 29, y20, 20);
        var xPadded = Enumerable.Range(0, 30).SelectMany(i => x.Skip(i * 29).Take(29).Append(0.0)).ToArray(); // a zero column: 30 features
        double gram = ManagedLinearCka.Compute(xPadded, 30, y20, 20);
        Assert.Equal(feature, gram, 1e-13);
    }

    [Theory]
    [InlineData(1e-30)]
    [InlineData(1e30)]
    [InlineData(1e200)]
    [InlineData(1e-300)]
    public void IsScaleInvariant(double c)
    {
        var (x, y) = Related(80, 10, 6, 9);
        double reference = ManagedLinearCka.Compute(x, 10, y, 6);
        Assert.Equal(reference, ManagedLinearCka.Compute(x.Select(v => v * c).ToArray(), 10, y, 6), 1e-12);
    }

    [Fact]
    public void ConstantInputIsUndefined()
    {
        var x = Enumerable.Repeat(1.5, 20 * 3).ToArray();
        var e = Assert.Throws<UndefinedResultException>(() => ManagedLinearCka.Compute(x, 3, Random(20 * 2, 1), 2, "a.npy", "b.npy"));
        Assert.Equal("a.npy: constant representation (zero variance): CKA is undefined", e.Message);
    }

    [Fact]
    public void CkaOfSmallFilesIsTheLibTorchValue()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"repscope-managed-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var (x, y) = Related(300, 20, 50, 11);
            string px = Path.Combine(dir, "x.npy"), py = Path.Combine(dir, "y.npy");
            Npy.Write(px, NdArray.FromFloat64("x", x, 300, 20));
            Npy.Write(py, NdArray.FromFloat32("y", y.Select(v => (float)v).ToArray(), 300, 50));
            Assert.True(ManagedLinearCka.Fits(300, 20, 50));
            var r = CkaFiles.Pair(new CkaPairRequest(px, py));
            Assert.Null(r.Error);
            Assert.Equal(HsicEstimator.Biased, r.Estimator);
            Assert.Equal(300, r.N);
            // libtorch: float32 and float64 together are both taken in float64
            Assert.Equal(Torch(x, 20, y.Select(v => (double)(float)v).ToArray(), 50, ScalarType.Float64), r.Cka, 1e-12);
        }
        finally { Directory.Delete(dir, true); }
    }
}
