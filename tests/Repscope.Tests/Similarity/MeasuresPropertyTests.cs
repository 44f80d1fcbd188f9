using Repscope.Similarity;
using TorchSharp;
using static Repscope.Tests.Similarity.SimilarityTestData;
using static TorchSharp.torch;

namespace Repscope.Tests.Similarity;

/// <summary>Properties of the measures other than CKA: identity, invariances, symmetry, undefined cases.</summary>
public class MeasuresPropertyTests
{
    private static readonly long[] Seeds = [1, 2, 3];
    private static readonly SimilarityMeasure[] Others =
        [SimilarityMeasure.Cca, SimilarityMeasure.Svcca, SimilarityMeasure.Pwcca, SimilarityMeasure.Procrustes, SimilarityMeasure.Rsa];

    public static TheoryData<SimilarityMeasure> All() => new(Enum.GetValues<SimilarityMeasure>());

    private static double V(SimilarityMeasure m, Tensor x, Tensor y) => Measures.Value(m, x, y);

    /// <summary>An invertible, far from orthogonal map: rotation then anisotropic scaling (condition number 400).</summary>
    private static Tensor Anisotropic(long seed, long p) =>
        RandomOrthogonal(seed, p).mm(torch.diag(torch.linspace(0.05, 20, p, dtype: ScalarType.Float64)));

    [Theory, MemberData(nameof(All))]
    public void IdenticalInputsGiveOne(SimilarityMeasure measure)
    {
        foreach (long seed in Seeds)
        {
            var x = Randn(seed, 60, 12);
            Assert.Equal(1.0, V(measure, x, x), 12);
            Assert.Equal(1.0, V(measure, x.reshape(60, 3, 2, 2), x), 12); // the trailing shape is flattened
        }
    }

    [Fact]
    public void ProcrustesDistanceIsZeroForIdenticalInputsAndMatchesTheDefinition()
    {
        var x = Randn(4, 40, 6);
        var y = Related(x, 4, 6);
        var r = Measures.Compute(SimilarityMeasure.Procrustes, x, y);
        Assert.Equal(Math.Sqrt(2 - 2 * r.Value), r.Distance!.Value, 14);
        // The distance is the smallest ‖X̃ − ỸQ‖_F over orthogonal Q: Q from the SVD of ỸᵀX̃.
        var xt = (x - x.mean([0L], keepdim: true)); xt /= xt.norm();
        var yt = (y - y.mean([0L], keepdim: true)); yt /= yt.norm();
        var (u, _, vh) = torch.linalg.svd(yt.t().mm(xt));
        Assert.Equal((xt - yt.mm(u.mm(vh))).norm().item<double>(), r.Distance!.Value, 10);
        Assert.True(Measures.Compute(SimilarityMeasure.Procrustes, x, x).Distance < 1e-6);
    }

    [Fact]
    public void CcaAndPwccaAreInvariantToInvertibleLinearMaps()
    {
        foreach (long seed in Seeds)
        {
            var x = Randn(seed, 80, 10);
            var y = Related(x, seed, 7, noise: 3.0);
            var a = Anisotropic(seed + 3, 10);
            var b = Anisotropic(seed + 4, 7);
            double r2 = V(SimilarityMeasure.Cca, x, y);
            Assert.InRange(r2, 0.05, 0.95);
            Assert.Equal(r2, V(SimilarityMeasure.Cca, x.mm(a), y.mm(b)), 10);
            Assert.Equal(r2, V(SimilarityMeasure.Cca, x + 5.0, y * 7 - 2), 10);
            // PWCCA's weights use X's own features, so only maps of Y (and permutations / sign flips of X) leave it unchanged.
            double pw = V(SimilarityMeasure.Pwcca, x, y);
            Assert.Equal(pw, V(SimilarityMeasure.Pwcca, x, y.mm(b)), 10);
            var flip = torch.diag(torch.tensor(new double[] { 1, -1, 1, 1, -1, 1, 1, 1, -1, 1 }));
            Assert.Equal(pw, V(SimilarityMeasure.Pwcca, x.mm(flip).index_select(1, torch.randperm(10, generator: new Generator((ulong)seed))), y), 10);
            Assert.NotEqual(pw, V(SimilarityMeasure.Pwcca, x.mm(a), y), 3);
        }
    }

    [Fact]
    public void SvccaIsInvariantToRotationAndIsotropicScalingButNotToEveryInvertibleMap()
    {
        foreach (long seed in Seeds)
        {
            var x = Randn(seed, 80, 10) * torch.linspace(5, 0.05, 10, dtype: ScalarType.Float64);
            var y = Related(x, seed, 7, noise: 0.5);
            double v = V(SimilarityMeasure.Svcca, x, y);
            Assert.Equal(v, V(SimilarityMeasure.Svcca, x.mm(RandomOrthogonal(seed + 5, 10)) * 3.3, y), 10);
            // The 99 % reduction depends on the spectrum, which an anisotropic map changes.
            Assert.NotEqual(v, V(SimilarityMeasure.Svcca, x.mm(Anisotropic(seed + 6, 10)), y), 3);
        }
    }

    [Fact]
    public void ProcrustesIsInvariantToRotationIsotropicScalingAndTranslationOnly()
    {
        foreach (long seed in Seeds)
        {
            var x = Randn(seed, 50, 8);
            var y = Related(x, seed, 8);
            double v = V(SimilarityMeasure.Procrustes, x, y);
            Assert.InRange(v, 0.05, 0.99);
            Assert.Equal(v, V(SimilarityMeasure.Procrustes, x.mm(RandomOrthogonal(seed + 7, 8)) * 0.01 + 3, y * 40), 10);
            Assert.NotEqual(v, V(SimilarityMeasure.Procrustes, x.mm(Anisotropic(seed + 8, 8)), y), 3);
        }
    }

    [Fact]
    public void RsaIsInvariantToMonotoneTransformsOfTheDissimilarities()
    {
        foreach (long seed in Seeds)
        {
            var x = Randn(seed, 30, 9);
            var y = Related(x, seed, 5);
            using var dx = Rsa.Dissimilarities(x);
            using var dy = Rsa.Dissimilarities(y);
            double v = Rsa.OfDissimilarities(dx, dy);
            Assert.InRange(v, 0.05, 0.99);
            Assert.Equal(v, Rsa.Spearman(x, y), 12);
            Assert.Equal(v, Rsa.OfDissimilarities(dx.pow(3) * 5 + 1, (dy + 0.1).log()), 12);
            Assert.Equal(v, Rsa.OfDissimilarities(dx.exp(), dy.sqrt()), 12);
            // Not invariant to a transform that is not monotone.
            Assert.NotEqual(v, Rsa.OfDissimilarities((dx - 1).square(), dy), 3);
        }
    }

    [Fact]
    public void SymmetricExceptPwcca()
    {
        foreach (long seed in Seeds)
        {
            var x = Randn(seed, 70, 9);
            var y = Related(x, seed, 5, noise: 2.0);
            foreach (var m in Enum.GetValues<SimilarityMeasure>())
            {
                double xy = V(m, x, y), yx = V(m, y, x);
                if (Measures.IsSymmetric(m)) { Assert.Equal(xy, yx, 11); }
                else { Assert.True(Math.Abs(xy - yx) > 1e-3, $"{m}: {xy} vs {yx}: expected an asymmetric value"); }
            }
        }
    }

    [Fact]
    public void R2CcaIsTheMeanSquaredCorrelationAndSvccaKeepsEverythingAtShareOne()
    {
        var x = Randn(9, 50, 6);
        var y = Related(x, 9, 4, noise: 2.0);
        var rho = Cca.Correlations(x, y);
        Assert.Equal(4, rho.Length);
        Assert.Equal(rho.Average(r => r * r), Cca.R2(x, y), 12);
        Assert.Equal(rho.Average(), Cca.Svcca(x, y, varianceKept: 1.0), 12);
        Assert.All(rho, r => Assert.InRange(r, 0, 1 + 1e-12));
    }

    [Fact]
    public void UndefinedCasesGiveNaNAndOneLineReason()
    {
        var x = Randn(1, 20, 5);
        var constant = torch.ones(20, 5, dtype: ScalarType.Float64) * 3;
        foreach (var m in Enum.GetValues<SimilarityMeasure>())
        {
            var r = Measures.Compute(m, x, constant, xName: "a.npy", yName: "b.npy");
            Assert.True(double.IsNaN(r.Value), $"{m}: {r.Value}");
            Assert.Contains("b.npy", r.Reason);
            Assert.Contains("constant", r.Reason);
            Assert.DoesNotContain('\n', r.Reason!);
            Assert.Throws<UndefinedResultException>(() => Measures.Value(m, constant, x));
        }
        var wide = Randn(2, 20, 20);
        foreach (var m in new[] { SimilarityMeasure.Cca, SimilarityMeasure.Pwcca })
        {
            var r = Measures.Compute(m, wide, x);
            Assert.True(double.IsNaN(r.Value));
            Assert.Contains("20 features >= 20 examples", r.Reason);
            Assert.Contains("svcca", r.Reason);
        }
        Assert.False(double.IsNaN(Measures.Compute(SimilarityMeasure.Svcca, wide, x).Value));
        // Too few examples; an example with the same value in every feature (RSA); one feature (RSA).
        Assert.Contains("needs at least 2", Measures.Compute(SimilarityMeasure.Cca, Randn(3, 1, 3), Randn(4, 1, 3)).Reason);
        Assert.Contains("needs at least 3", Measures.Compute(SimilarityMeasure.Rsa, Randn(3, 2, 3), Randn(4, 2, 3)).Reason);
        // Row 7 chosen so that after centring the features it is 2 in every feature: (n·2 + sum of the other rows) / (n − 1).
        var flatRow = x.clone(); flatRow[7] = (20 * 2.0 + x.sum([0L]) - x[7]) / 19;
        Assert.Contains("example 7", Measures.Compute(SimilarityMeasure.Rsa, flatRow, x).Reason);
        Assert.Contains("1 feature", Measures.Compute(SimilarityMeasure.Rsa, Randn(5, 10, 1), x.narrow(0, 0, 10)).Reason);
    }

    [Fact]
    public void DifferentExampleCountsAreBadInputNotUndefined()
    {
        var e = Assert.Throws<RepscopeException>(() => Measures.Compute(SimilarityMeasure.Cca, Randn(1, 20, 3), Randn(2, 21, 3)));
        Assert.IsNotType<UndefinedResultException>(e);
    }

    [Fact]
    public void AllPairsAgreesWithThePairwiseFunctionInBothOrders()
    {
        var layers = Enumerable.Range(0, 4).Select(i => Randn(10 + i, 40, 5 + i)).ToList();
        layers[2] = Related(layers[1], 3, 7, noise: 1.0);
        layers.Add(torch.zeros(40, 3, dtype: ScalarType.Float64)); // constant: NaN row and column
        var names = layers.Select((_, i) => $"l{i}").ToList();
        foreach (var m in Others)
        {
            var map = Measures.AllPairs(m, layers, names, null, null);
            for (int i = 0; i < 4; i++)
            {
                for (int j = 0; j < 4; j++)
                {
                    Assert.Equal(V(m, layers[i], layers[j]), map.Matrix[i, j], 11);
                }
                Assert.True(double.IsNaN(map.Matrix[i, 4]) && double.IsNaN(map.Matrix[4, i]));
            }
            Assert.Single(map.Undefined);
            Assert.Contains("layer 'l4'", map.Undefined[0]);
            var cross = Measures.AllPairs(m, layers.Take(2).ToList(), ["a0", "a1"], layers.Skip(1).Take(3).ToList(), ["b0", "b1", "b2"]);
            Assert.Equal(V(m, layers[1], layers[3]), cross.Matrix[1, 2], 11);
            Assert.Equal(V(m, layers[0], layers[2]), cross.Matrix[0, 1], 11);
        }
    }
}
