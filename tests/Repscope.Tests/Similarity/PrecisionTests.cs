using Repscope.Similarity;
using TorchSharp;
using static Repscope.Tests.Similarity.SimilarityTestData;
using static TorchSharp.torch;

namespace Repscope.Tests.Similarity;

/// <summary>Float32 inputs (float32 Gram products, float64 sums) agree with the float64 computation to 1e-6.</summary>
public class PrecisionTests
{
    // ReLU-like activations with a large common offset: the hard case for float32 products.
    private static (Tensor X64, Tensor Y64) Activations(long seed, long n, long p, long q)
    {
        var x = torch.nn.functional.relu(Randn(seed, n, p)) + 3.0;
        var y = torch.nn.functional.relu(Related(x, seed, q, noise: 2.0)) + 10.0;
        return (x, y);
    }

    [Fact]
    public void WholeDataLinearAgreesWithFloat64()
    {
        var (x, y) = Activations(1, 1024, 300, 600);
        var (x32, y32) = (x.to_type(ScalarType.Float32), y.to_type(ScalarType.Float32));
        // The float64 "reference" is computed from the float32-rounded data, so only the arithmetic differs.
        var (xr, yr) = (x32.to_type(ScalarType.Float64), y32.to_type(ScalarType.Float64));
        Assert.True(Math.Abs(LinearCka.FeatureSpace(xr, yr) - LinearCka.FeatureSpace(x32, y32)) < 1e-6);
        Assert.True(Math.Abs(LinearCka.GramSpace(xr, yr) - LinearCka.GramSpace(x32, y32)) < 1e-6);
    }

    [Fact]
    public void MinibatchAndKernelsAgreeWithFloat64()
    {
        var (x, y) = Activations(2, 512, 1024, 256);
        var (x32, y32) = (x.to_type(ScalarType.Float32), y.to_type(ScalarType.Float32));
        var (xr, yr) = (x32.to_type(ScalarType.Float64), y32.to_type(ScalarType.Float64));
        Assert.True(Math.Abs(Cka.Minibatch(xr, yr, 256) - Cka.Minibatch(x32, y32, 256)) < 1e-6);
        Assert.True(Math.Abs(Cka.Minibatch(xr, yr, 128, KernelKind.Rbf) - Cka.Minibatch(x32, y32, 128, KernelKind.Rbf)) < 1e-6);
        var rbf = new CkaOptions(KernelKind.Rbf, HsicEstimator.Biased);
        Assert.True(Math.Abs(Cka.Compute(xr, yr, rbf) - Cka.Compute(x32, y32, rbf)) < 1e-6);
    }
}
