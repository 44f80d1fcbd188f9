using Repscope.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Similarity;

/// <summary>
/// What one measure needs of one layer, computed once per layer so that an all-pairs map costs one
/// decomposition per layer and one small product per pair. Built from the thin SVD of the
/// column-centred layer in float64, Xc = U S Vᵀ (the right singular vectors are dropped at once, except
/// for PWCCA's loadings); RSA keeps the ranks of the upper triangle of its dissimilarity matrix.
/// Memory per layer: n x min(n, p) float64 at most (n(n−1)/2 for RSA).
/// When the measure is undefined for the layer, <see cref="Reason"/> says why and no tensor is kept.
/// </summary>
internal sealed class LayerSubspace : IDisposable
{
    /// <summary>Singular values below this fraction of the largest count as zero (rank cut).</summary>
    public const double RankTolerance = 1e-10;

    public string Name { get; }
    public long N { get; }
    /// <summary>CCA, SVCCA, PWCCA: an orthonormal basis (n x r) of the centred column space (SVCCA: of the kept directions).
    /// Procrustes: U S / ‖S‖ (n x r), whose Gram is the unit-norm layer's. RSA: the centred, unit-norm ranks of the dissimilarities.</summary>
    public Tensor? Basis { get; }
    /// <summary>PWCCA only: Qᵀ Xc = S Vᵀ (r x p), so that ⟨hᵢ, xⱼ⟩ = (Uᵀ Qᵀ Xc)ᵢⱼ for canonical variates H = Q U.</summary>
    public Tensor? Loadings { get; }
    public int Dimensions { get; }
    public string? Reason { get; }

    private LayerSubspace(string name, long n, Tensor? basis, Tensor? loadings, int dims, string? reason)
    {
        (Name, N, Basis, Loadings, Dimensions, Reason) = (name, n, basis, loadings, dims, reason);
    }

    public static LayerSubspace Undefined(string name, long n, string reason) => new(name, n, null, null, 0, reason);

    /// <summary>Prepares <paramref name="layer"/> ([n, ...], any float type) for <paramref name="measure"/> (not CKA).</summary>
    public static LayerSubspace Of(Tensor layer, string name, SimilarityMeasure measure, MeasureOptions options)
    {
        using var scope = torch.NewDisposeScope();
        var m = Gram.AsMatrix(layer, name).to_type(ScalarType.Float64);
        long n = m.shape[0], p = m.shape[1];
        string label = Measures.Label(measure);
        int minRows = measure == SimilarityMeasure.Rsa ? 3 : 2;
        if (n < minRows) { return Undefined(name, n, $"{name}: {n} examples; {label} needs at least {minRows}"); }
        if (Gram.IsConstant(m)) { return Undefined(name, n, $"{name}: constant representation (zero variance): {label} is undefined"); }
        if (p >= n && measure is SimilarityMeasure.Cca or SimilarityMeasure.Pwcca)
        {
            return Undefined(name, n, $"{name}: {p} features >= {n} examples: every canonical correlation is 1 and {label} says nothing; " +
                                      $"reduce with the SVD first ({RepscopeException.Option("measure")} svcca does)");
        }
        var c = Gram.CentreColumns(m);
        LayerSubspace result = measure == SimilarityMeasure.Rsa ? Rsa.Prepare(c, name) : FromSvd(c, name, measure, options);
        result.Basis?.MoveToOuterDisposeScope();
        result.Loadings?.MoveToOuterDisposeScope();
        return result;
    }

    private static LayerSubspace FromSvd(Tensor c, string name, SimilarityMeasure measure, MeasureOptions options)
    {
        long n = c.shape[0];
        var (u, s, vh) = torch.linalg.svd(c, fullMatrices: false);
        double top = s[0].item<double>();
        using var cutoff = (RankTolerance * top).ToScalar();
        int rank = (int)s.gt(cutoff).sum().item<long>();
        return measure switch
        {
            SimilarityMeasure.Cca => new(name, n, u.narrow(1, 0, rank).contiguous(), null, rank, null),
            SimilarityMeasure.Pwcca => new(name, n, u.narrow(1, 0, rank).contiguous(),
                                           s.narrow(0, 0, rank).unsqueeze(1).mul(vh.narrow(0, 0, rank)), rank, null),
            SimilarityMeasure.Svcca => Svcca(name, n, u, s, rank, options.SvccaVarianceKept),
            SimilarityMeasure.Procrustes => new(name, n, u.narrow(1, 0, rank).mul(s.narrow(0, 0, rank).div(s.norm())).contiguous(), null, rank, null),
            _ => throw new ArgumentOutOfRangeException(nameof(measure), measure, "CKA is computed by Cka / AllPairsCka"),
        };
    }

    /// <summary>The fewest leading left singular directions holding at least <paramref name="kept"/> of Σ s².</summary>
    private static LayerSubspace Svcca(string name, long n, Tensor u, Tensor s, int rank, double kept)
    {
        var energy = s.narrow(0, 0, rank).pow(TorchScalars.Two);
        var cumulative = energy.cumsum(0).div(energy.sum());
        using var keptScalar = kept.ToScalar();
        int k = Math.Min((int)cumulative.lt(keptScalar).sum().item<long>() + 1, rank);
        return new(name, n, u.narrow(1, 0, k).contiguous(), null, k, null);
    }

    internal static LayerSubspace Ranks(string name, long n, Tensor unitCentredRanks) => new(name, n, unitCentredRanks, null, 0, null);

    public void Dispose()
    {
        Basis?.Dispose();
        Loadings?.Dispose();
    }
}
