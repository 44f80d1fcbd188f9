namespace Repscope.Similarity;

/// <summary>
/// A similarity measure between two representations (rows = examples, features flattened and
/// centred). Definitions and sources: docs/measures.md. Every one is 1 for identical inputs.
/// </summary>
public enum SimilarityMeasure
{
    /// <summary>Centered kernel alignment (Kornblith et al. 2019), any kernel and estimator: <see cref="Repscope.Similarity.Cka"/>.</summary>
    Cka,

    /// <summary>Mean squared canonical correlation, R²CCA (Kornblith et al. 2019): <see cref="Repscope.Similarity.Cca.R2"/>.</summary>
    Cca,

    /// <summary>SVCCA (Raghu et al. 2017): SVD reduction to 99 % of the variance, then the mean canonical correlation.</summary>
    Svcca,

    /// <summary>Projection-weighted CCA (Morcos et al. 2018); not symmetric: the weights come from the first representation.</summary>
    Pwcca,

    /// <summary>Orthogonal Procrustes similarity (Ding et al. 2021, Williams et al. 2021): nuclear norm of X̃ᵀỸ, unit-norm inputs.</summary>
    Procrustes,

    /// <summary>Representational similarity analysis (Kriegeskorte et al. 2008): Spearman correlation of the dissimilarity matrices.</summary>
    Rsa,
}

/// <summary>Settings of the measures other than CKA's own (<see cref="CkaOptions"/>).</summary>
/// <param name="Cka">Kernel and estimator when the measure is <see cref="SimilarityMeasure.Cka"/>.</param>
/// <param name="SvccaVarianceKept">SVCCA keeps the fewest singular directions holding at least this fraction of the variance.</param>
public sealed record MeasureOptions(CkaOptions? Cka = null, double SvccaVarianceKept = MeasureOptions.DefaultSvccaVarianceKept)
{
    public const double DefaultSvccaVarianceKept = 0.99;
    public static readonly MeasureOptions Default = new();

    public CkaOptions CkaOrDefault => Cka ?? CkaOptions.Default;

    internal MeasureOptions Validated()
    {
        CkaOrDefault.Validate();
        if (!(SvccaVarianceKept > 0 && SvccaVarianceKept <= 1))
        {
            throw new RepscopeException($"SVCCA variance kept must be in (0, 1], got {SvccaVarianceKept}");
        }
        return this;
    }
}

/// <summary>
/// One similarity value. <see cref="Value"/> is NaN (null in JSON) when the measure is undefined
/// for these inputs, and <see cref="Reason"/> then says why in one line.
/// </summary>
/// <param name="DimensionsX">Dimensions the measure used on the X side: the rank (CCA, PWCCA), the
/// directions kept (SVCCA), the rank (Procrustes); null for CKA and RSA.</param>
/// <param name="Distance">Procrustes only: the distance √(2 − 2·value) between the unit-norm representations.</param>
public sealed record MeasureResult(SimilarityMeasure Measure, double Value, long N, int? DimensionsX = null, int? DimensionsY = null,
                                   double? Distance = null, string? Reason = null)
{
    public bool Defined => Reason is null && !double.IsNaN(Value);
}
