using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Similarity;

/// <summary>
/// Orthogonal Procrustes (Ding et al. 2021; Williams et al. 2021), float64, rows = examples,
/// features flattened and centred. X̃ and Ỹ are the centred representations scaled to unit
/// Frobenius norm; the similarity is the nuclear norm ‖X̃ᵀ Ỹ‖_* in [0, 1] (1 = equal up to a
/// rotation and a scale), the distance min over orthogonal Q of ‖X̃ − ỸQ‖_F = √(2 − 2·similarity).
/// Computed from each side's thin SVD: ‖X̃ᵀỸ‖_* = ‖Sx Uxᵀ Uy Sy‖_* / (‖Sx‖ ‖Sy‖), a min(n, p) x min(n, q) problem.
/// </summary>
public static class Procrustes
{
    public static double Similarity(Tensor x, Tensor y) => Measures.Value(SimilarityMeasure.Procrustes, x, y);

    public static double Distance(Tensor x, Tensor y) => DistanceOf(Similarity(x, y));

    /// <summary>√(2 − 2·similarity), clamped at 0 against rounding.</summary>
    public static double DistanceOf(double similarity) => Math.Sqrt(Math.Max(0, 2 - 2 * similarity));

    internal static double OfScaledBases(Tensor bx, Tensor by)
    {
        using var scope = torch.NewDisposeScope();
        return torch.linalg.svdvals(bx.t().mm(by)).sum().item<double>();
    }
}
