using Repscope.Similarity;
using TorchSharp;
using static Repscope.Tests.Similarity.SimilarityTestData;
using static TorchSharp.torch;

namespace Repscope.Tests.Similarity;

public class CkaPropertyTests
{
    public static TheoryData<KernelKind, HsicEstimator> AllOptions => new()
    {
        { KernelKind.Linear, HsicEstimator.Biased },
        { KernelKind.Linear, HsicEstimator.Unbiased },
        { KernelKind.Rbf, HsicEstimator.Biased },
        { KernelKind.Rbf, HsicEstimator.Unbiased },
    };

    private static readonly long[] Seeds = [1, 2, 3];

    [Theory, MemberData(nameof(AllOptions))]
    public void SelfSimilarityIsOne(KernelKind kernel, HsicEstimator estimator)
    {
        foreach (long seed in Seeds)
        {
            var x = Randn(seed, 60, 12);
            Assert.Equal(1.0, Cka.Compute(x, x, new CkaOptions(kernel, estimator)), 12);
        }
    }

    [Theory, MemberData(nameof(AllOptions))]
    public void InvariantToOrthogonalTransformAndIsotropicScaling(KernelKind kernel, HsicEstimator estimator)
    {
        var options = new CkaOptions(kernel, estimator);
        foreach (long seed in Seeds)
        {
            var x = Randn(seed, 50, 8);
            var y = Related(x, seed, 6);
            double baseline = Cka.Compute(x, y, options);
            double rotated = Cka.Compute(x.mm(RandomOrthogonal(seed + 7, 8)), y, options);
            double scaled = Cka.Compute(x, y * 3.7, options);
            Assert.Equal(baseline, rotated, 10);
            Assert.Equal(baseline, scaled, 10);
            Assert.InRange(baseline, 0.05, 0.999); // a non-trivial value, so the equalities mean something
        }
    }

    [Theory]
    [InlineData(HsicEstimator.Biased)]
    [InlineData(HsicEstimator.Unbiased)]
    public void NotInvariantToArbitraryInvertibleLinearMaps(HsicEstimator estimator)
    {
        var options = new CkaOptions(KernelKind.Linear, estimator);
        foreach (long seed in Seeds)
        {
            var x = Randn(seed, 80, 10);
            var y = Related(x, seed, 10);
            // Anisotropic and invertible: scale one direction by 20 after a rotation.
            var a = RandomOrthogonal(seed + 3, 10).mm(torch.diag(torch.linspace(0.05, 20, 10, dtype: ScalarType.Float64)));
            Assert.True(Math.Abs(torch.linalg.det(a).item<double>()) > 1e-6);
            double baseline = Cka.Compute(x, y, options);
            double mapped = Cka.Compute(x.mm(a), y, options);
            Assert.True(Math.Abs(baseline - mapped) > 0.02, $"CKA {baseline} vs {mapped} after an invertible map");
        }
    }

    [Theory, MemberData(nameof(AllOptions))]
    public void Symmetric(KernelKind kernel, HsicEstimator estimator)
    {
        var options = new CkaOptions(kernel, estimator);
        foreach (long seed in Seeds)
        {
            var x = Randn(seed, 40, 9);
            var y = Related(x, seed, 5);
            Assert.Equal(Cka.Compute(x, y, options), Cka.Compute(y, x, options), 13);
        }
    }

    [Theory]
    [InlineData(KernelKind.Linear)]
    [InlineData(KernelKind.Rbf)]
    public void BiasedEstimateLiesInUnitInterval(KernelKind kernel)
    {
        var options = new CkaOptions(kernel, HsicEstimator.Biased);
        for (long seed = 1; seed <= 10; seed++)
        {
            var x = Randn(seed, 30, 4);
            var y = seed % 2 == 0 ? Randn(seed + 50, 30, 7) : Related(x, seed, 3, noise: 0.3);
            double v = Cka.Compute(x, y, options);
            Assert.InRange(v, 0.0, 1.0);
        }
    }

    [Fact]
    public void BiasedCkaMatchesExplicitCentringMatrixFormula()
    {
        foreach (long seed in Seeds)
        {
            var x = Randn(seed, 45, 7);
            var y = Related(x, seed, 11);
            double reference = ReferenceCka(LinearGram(x), LinearGram(y), ReferenceBiasedHsic);
            Assert.Equal(reference, Cka.Linear(x, y), 12);
            Assert.Equal(ReferenceBiasedHsic(LinearGram(x), LinearGram(y)), Hsic.Biased(LinearGram(x), LinearGram(y)), 9);
        }
    }

    [Fact]
    public void FeatureSpaceAndGramSpaceAgree()
    {
        foreach (long seed in Seeds)
        {
            var x = Randn(seed, 70, 9) + 2.0;
            var y = Related(x, seed, 13);
            Assert.Equal(LinearCka.GramSpace(x, y), LinearCka.FeatureSpace(x, y), 12);
            var wide = Randn(seed, 20, 50); // more features than examples: Compute takes the Gram-space path
            var wide2 = Related(wide, seed, 40);
            Assert.Equal(LinearCka.FeatureSpace(wide, wide2), LinearCka.Compute(wide, wide2), 12);
        }
    }

    [Fact]
    public void UnbiasedHsicSongFormulaEqualsUCentredInnerProduct()
    {
        foreach (long seed in Seeds)
        {
            var k = LinearGram(Randn(seed, 25, 6));
            var l = LinearGram(Randn(seed + 9, 25, 3));
            long n = 25;
            double viaU = Hsic.UCentreInPlace(k.clone()).mul(Hsic.UCentreInPlace(l.clone())).sum().item<double>() / (n * (n - 3.0));
            Assert.Equal(Hsic.Unbiased(k, l), viaU, 10);
            // The diagonal of the Grams plays no part in the unbiased estimator.
            var k2 = k.clone();
            k2.diagonal().add_(100.0);
            Assert.Equal(Hsic.Unbiased(k, l), Hsic.Unbiased(k2, l), 10);
        }
    }

    [Fact]
    public void UnbiasedCkaIsInvariantToTranslation()
    {
        var x = Randn(4, 40, 6);
        var y = Related(x, 4, 5);
        var options = new CkaOptions(KernelKind.Linear, HsicEstimator.Unbiased);
        Assert.Equal(Cka.Compute(x, y, options), Cka.Compute(x + 5.0, y - 3.0, options), 10);
        Assert.Equal(Cka.Minibatch(x, y, 10), Cka.Minibatch(x + 5.0, y - 3.0, 10), 10);
    }

    [Fact]
    public void RbfKernelUsesMedianOverAllEntries()
    {
        // 3 points on a line at 0, 1, 3: squared distances {0,0,0,1,1,4,4,9,9} -> median 1.
        var x = torch.tensor(new double[] { 0, 1, 3 }).reshape(3, 1);
        var k = Gram.Rbf(x, 1.0);
        Assert.Equal(Math.Exp(-1 / 2.0), k[0, 1].item<double>(), 14);
        Assert.Equal(Math.Exp(-9 / 2.0), k[0, 2].item<double>(), 14);
        Assert.Equal(1.0, k[1, 1].item<double>(), 14);
        Assert.Equal(2.5, Gram.Median(torch.tensor(new double[] { 4, 1, 2, 3 })), 14);
    }
}
