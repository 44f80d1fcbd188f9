using Repscope.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Similarity;

/// <summary>
/// The canonical-correlation family, float64, rows = examples, features flattened and centred.
/// The canonical correlations ρ of X and Y are the singular values of Qxᵀ Qy, Qx and Qy orthonormal
/// bases of the centred column spaces (left singular vectors of the thin SVD, rank cut at 1e-10 of
/// the largest singular value); there are min(rank X, rank Y) of them.
/// <list type="bullet">
/// <item><see cref="R2"/>: mean ρ² (Kornblith et al. 2019's R²CCA).</item>
/// <item><see cref="Svcca"/>: each side reduced to the fewest singular directions holding 99 % of the variance, then mean ρ (Raghu et al. 2017).</item>
/// <item><see cref="Pwcca"/>: Σ αᵢ ρᵢ / Σ αᵢ with αᵢ = Σⱼ |⟨hᵢ, xⱼ⟩|, hᵢ the canonical variates of X (Morcos et al. 2018); not symmetric.</item>
/// </list>
/// With p ≥ n features every canonical correlation is 1: R²CCA and PWCCA are then undefined
/// (<see cref="UndefinedResultException"/> saying to reduce with the SVD first, which SVCCA does).
/// </summary>
public static class Cca
{
    /// <summary>Mean squared canonical correlation, ‖Qxᵀ Qy‖²_F / min(rx, ry).</summary>
    public static double R2(Tensor x, Tensor y) => Measures.Value(SimilarityMeasure.Cca, x, y);

    /// <summary>SVCCA: mean canonical correlation after keeping <paramref name="varianceKept"/> of each side's variance.</summary>
    public static double Svcca(Tensor x, Tensor y, double varianceKept = MeasureOptions.DefaultSvccaVarianceKept) =>
        Measures.Value(SimilarityMeasure.Svcca, x, y, new MeasureOptions(SvccaVarianceKept: varianceKept));

    /// <summary>Projection-weighted CCA of X with Y, weights from X.</summary>
    public static double Pwcca(Tensor x, Tensor y) => Measures.Value(SimilarityMeasure.Pwcca, x, y);

    /// <summary>The canonical correlations of X and Y, in decreasing order (min(rank X, rank Y) of them).</summary>
    public static double[] Correlations(Tensor x, Tensor y)
    {
        using var sx = LayerSubspace.Of(x, "x", SimilarityMeasure.Cca, MeasureOptions.Default);
        using var sy = LayerSubspace.Of(y, "y", SimilarityMeasure.Cca, MeasureOptions.Default);
        Measures.ThrowIfUndefined(sx, sy);
        using var scope = torch.NewDisposeScope();
        return torch.linalg.svdvals(sx.Basis!.t().mm(sy.Basis!)).data<double>().ToArray();
    }

    internal static double R2OfBases(Tensor qx, Tensor qy)
    {
        using var m = qx.t().mm(qy);
        return m.pow(TorchScalars.Two).sum().item<double>() / Math.Min(qx.shape[1], qy.shape[1]);
    }

    internal static double MeanCorrelationOfBases(Tensor qx, Tensor qy)
    {
        using var scope = torch.NewDisposeScope();
        return torch.linalg.svdvals(qx.t().mm(qy)).mean().item<double>();
    }

    internal static double PwccaOfBases(Tensor qx, Tensor loadingsX, Tensor qy)
    {
        using var scope = torch.NewDisposeScope();
        var (u, rho, _) = torch.linalg.svd(qx.t().mm(qy), fullMatrices: false);
        // ⟨hᵢ, xⱼ⟩ with H = Qx U: (Uᵀ Qxᵀ Xc)ᵢⱼ = (Uᵀ S Vᵀ)ᵢⱼ.
        var alpha = u.t().mm(loadingsX).abs().sum(1);
        return alpha.mul(rho).sum().item<double>() / alpha.sum().item<double>();
    }
}
