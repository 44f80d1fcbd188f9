using Repscope.Interop;
using Repscope.Similarity;
using TorchSharp;

namespace Repscope.Tests.Similarity;

/// <summary>
/// The sortedness warning's two sums (squared distances between neighbouring rows, and between rows half the data
/// apart, over up to 2,000 pairs) come out the same from a file (read in bounded slices, managed float64) as from a
/// tensor (libtorch float64), and equal a direct loop over the same pairs.
/// </summary>
public sealed class SortednessTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("repscope-sorted-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Rows of <paramref name="p"/> features; sorted: each row a small step from the previous (class by class).</summary>
    private static double[] Rows(int n, int p, bool sorted, int seed)
    {
        var rng = new Random(seed);
        var x = new double[n * p];
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < p; k++)
            {
                double noise = rng.NextDouble() - 0.5;
                x[i * p + k] = sorted ? (i == 0 ? 0 : x[(i - 1) * p + k]) + 0.1 * noise : 10 * noise;
            }
        }
        return x;
    }

    /// <summary>The rule written out: pair i compares row i*step with row i*step + 1 and with row i*step + n/2.</summary>
    private static (double Neighbours, double Far) Direct(double[] x, int n, int p, bool asFloat32)
    {
        long pairs = Math.Min(2000, n / 2), step = Math.Max(1, n / 2 / pairs);
        double V(long row, int k) => asFloat32 ? (float)x[row * p + k] : x[row * p + k];
        double near = 0, far = 0;
        for (long i = 0; i < pairs; i++)
        {
            long r = i * step;
            for (int k = 0; k < p; k++)
            {
                double a = V(r, k) - V(r + 1, k), b = V(r, k) - V(r + n / 2, k);
                near += a * a;
                far += b * b;
            }
        }
        return (near, far);
    }

    [Theory]
    [InlineData(5000, 64, true, false)]     // 2,000 pairs with a stride of 1
    [InlineData(9001, 24, false, false)]    // stride 2, odd n
    [InlineData(600, 40, true, true)]       // float64 on disk
    [InlineData(12, 800_000, true, false)]   // 3.2 MB rows: one row per slice (the buffers stay within 8 MB)
    public void A_file_and_a_tensor_give_the_same_sums(int n, int p, bool sorted, bool float64)
    {
        var x = Rows(n, p, sorted, seed: n);
        string path = Path.Combine(_dir, "x.npy");
        Npy.Write(path, float64 ? NdArray.FromFloat64("x", x, n, p) : NdArray.FromFloat32("x", x.Select(v => (float)v).ToArray(), n, p));
        var stored = StoredArray.OfNpy(path)!;
        var fromFile = CkaFiles.SortednessSums(stored);
        (double Neighbours, double Far) fromTensor;
        using (var t = float64 ? torch.tensor(x, [n, p]) : torch.tensor(x.Select(v => (float)v).ToArray(), [n, p]))
        {
            fromTensor = CkaFiles.SortednessSums(t);
        }
        var direct = Direct(x, n, p, asFloat32: !float64);
        foreach (var (got, want) in new[] { (fromFile.Neighbours, direct.Neighbours), (fromFile.Far, direct.Far),
                                            (fromTensor.Neighbours, direct.Neighbours), (fromTensor.Far, direct.Far) })
        {
            Assert.Equal(want, got, want * 1e-10);
        }
        Assert.Equal(sorted, CkaFiles.LooksSorted(stored));
        Assert.True(direct.Far > 0);
    }
}
