using Repscope.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Similarity;

/// <summary>
/// Representational similarity analysis (Kriegeskorte et al. 2008), float64, rows = examples,
/// features flattened and centred (column means removed first, as for every measure here).
/// The dissimilarity of two examples is 1 − the Pearson correlation of their feature vectors; the
/// similarity of two representations is the Spearman correlation (average ranks for ties) of the
/// upper triangles (i &lt; j) of their n x n dissimilarity matrices. Works from the n x n Gram of the
/// row-normalised layer; keeps n(n−1)/2 ranks per layer.
/// </summary>
public static class Rsa
{
    /// <summary>Spearman correlation of the two dissimilarity matrices of X and Y.</summary>
    public static double Spearman(Tensor x, Tensor y) => Measures.Value(SimilarityMeasure.Rsa, x, y);

    /// <summary>The n x n dissimilarity matrix 1 − Pearson correlation between examples (after centring the features).</summary>
    public static Tensor Dissimilarities(Tensor x, string name = "x")
    {
        using var scope = torch.NewDisposeScope();
        var m = Gram.AsMatrix(x, name).to_type(ScalarType.Float64);
        var z = RowNormalised(Gram.CentreColumns(m), name, out string? reason);
        if (reason is not null) { throw new UndefinedResultException(reason); }
        return Dissimilarity(z!).MoveToOuterDisposeScope();
    }

    /// <summary>Spearman correlation of the upper triangles (i &lt; j) of two n x n dissimilarity matrices.</summary>
    public static double OfDissimilarities(Tensor d1, Tensor d2)
    {
        foreach (var (d, name) in new[] { (d1, "first"), (d2, "second") })
        {
            if (d.dim() != 2 || d.shape[0] != d.shape[1]) { throw new RepscopeException($"{name} dissimilarity matrix: expected n x n, got [{string.Join(", ", d.shape)}]"); }
        }
        if (d1.shape[0] != d2.shape[0]) { throw new RepscopeException($"dissimilarity matrices of {d1.shape[0]} and {d2.shape[0]} examples"); }
        if (d1.shape[0] < 3) { throw new UndefinedResultException($"{d1.shape[0]} examples; RSA needs at least 3"); }
        using var scope = torch.NewDisposeScope();
        var mask = torch.ones(d1.shape[0], d1.shape[0], dtype: ScalarType.Bool).triu(1);
        return RankCorrelation(d1.masked_select(mask), d2.masked_select(mask), "first dissimilarity matrix", "second dissimilarity matrix");
    }

    /// <summary>Spearman's rank correlation (average ranks for ties) of two equally long 1-d tensors of finite values.</summary>
    public static double RankCorrelation(Tensor a, Tensor b, string aName = "a", string bName = "b")
    {
        if (a.dim() != 1 || b.dim() != 1 || a.shape[0] != b.shape[0]) { throw new RepscopeException($"{aName} and {bName}: expected two vectors of the same length"); }
        if (a.shape[0] < 2) { throw new UndefinedResultException($"{aName}: {a.shape[0]} values; a rank correlation needs at least 2"); }
        using var r1 = UnitCentredRanks(a.to_type(ScalarType.Float64), aName, out string? reason1);
        using var r2 = UnitCentredRanks(b.to_type(ScalarType.Float64), bName, out string? reason2);
        if ((reason1 ?? reason2) is string reason) { throw new UndefinedResultException(reason); }
        return r1!.dot(r2!).item<double>();
    }

    /// <summary>The layer's centred unit-norm ranks (what every pair needs), or why RSA is undefined for it.</summary>
    internal static LayerSubspace Prepare(Tensor centred, string name)
    {
        long n = centred.shape[0];
        var z = RowNormalised(centred, name, out string? reason);
        if (reason is not null) { return LayerSubspace.Undefined(name, n, reason); }
        var d = Dissimilarity(z!);
        var ranks = UnitCentredRanks(d.masked_select(torch.ones(n, n, dtype: ScalarType.Bool).triu(1)), name, out reason);
        return reason is not null ? LayerSubspace.Undefined(name, n, reason) : LayerSubspace.Ranks(name, n, ranks!);
    }

    internal static double OfRanks(Tensor rx, Tensor ry) => rx.dot(ry).item<double>();

    /// <summary>Rows centred and scaled to unit norm, so that Z Zᵀ holds the Pearson correlations between examples.</summary>
    private static Tensor? RowNormalised(Tensor centred, string name, out string? reason)
    {
        reason = null;
        if (centred.shape[1] < 2)
        {
            reason = $"{name}: 1 feature; a Pearson correlation between examples needs at least 2: RSA is undefined";
            return null;
        }
        var z = centred - centred.mean([1L], keepdim: true);
        var norms = z.norm(1, keepdim: true);
        double largest = norms.max().item<double>();
        using var flatBelow = (1e-12 * largest).ToScalar();
        var flat = norms.squeeze(1).le(flatBelow).nonzero();
        if (flat.shape[0] > 0)
        {
            reason = $"{name}: example {flat[0, 0].item<long>()} has the same value in every feature (after centring the features): " +
                     "its Pearson correlation is undefined, so RSA is";
            return null;
        }
        return z.div_(norms);
    }

    private static Tensor Dissimilarity(Tensor z) => z.mm(z.t()).neg_().add_(TorchScalars.One, TorchScalars.One);

    /// <summary>Average ranks of the values, centred and scaled to unit norm (the dot product of two is Spearman's ρ).</summary>
    private static Tensor? UnitCentredRanks(Tensor values, string name, out string? reason)
    {
        using var scope = torch.NewDisposeScope();
        reason = null;
        var (_, inverse, counts) = values.unique(sorted: true, return_inverse: true, return_counts: true);
        var c = counts!.to_type(ScalarType.Float64);
        var averageRank = (c.cumsum(0) - c).add(c.add(TorchScalars.One, TorchScalars.One).div(TorchScalars.Two), TorchScalars.One); // 1-based ranks, ties share their average
        var r = averageRank.index_select(0, inverse!.flatten());
        r = r - r.mean();
        double norm = r.norm().item<double>();
        if (!(norm > 0))
        {
            reason = $"{name}: all values are equal (every pair of examples equally dissimilar): the rank correlation is undefined";
            return null;
        }
        using var normScalar = norm.ToScalar();
        return r.div_(normScalar).MoveToOuterDisposeScope();
    }
}
