namespace Repscope.Similarity;

/// <summary>The kernel that turns a representation (n x p) into an n x n Gram matrix.</summary>
public enum KernelKind
{
    /// <summary>K = X X^T.</summary>
    Linear,

    /// <summary>K_ij = exp(-|x_i - x_j|^2 / (2 sigma^2)), sigma^2 = threshold^2 x median squared distance (Kornblith 2019).</summary>
    Rbf,
}

/// <summary>The HSIC estimator.</summary>
public enum HsicEstimator
{
    /// <summary>tr(K H L H) / (n-1)^2 (Gretton 2005). CKA in [0, 1].</summary>
    Biased,

    /// <summary>Song et al. 2012, zeroed diagonals; needs at least 4 rows.</summary>
    Unbiased,
}

/// <summary>How to compute CKA for a pair of representations on the whole data.</summary>
/// <param name="Kernel">Linear or RBF.</param>
/// <param name="Estimator">Biased or unbiased HSIC.</param>
/// <param name="RbfThreshold">For <see cref="KernelKind.Rbf"/>: sigma = threshold x sqrt(median squared distance).</param>
public sealed record CkaOptions(
    KernelKind Kernel = KernelKind.Linear,
    HsicEstimator Estimator = HsicEstimator.Biased,
    double RbfThreshold = 0.5)
{
    public static readonly CkaOptions Default = new();

    internal void Validate()
    {
        if (Kernel == KernelKind.Rbf && !(RbfThreshold > 0 && double.IsFinite(RbfThreshold)))
        {
            throw new RepscopeException($"RBF threshold must be a positive number, got {RbfThreshold}");
        }
    }
}

/// <summary>
/// Minibatch CKA of a pair (paper Eq. 3) with what the caller may want to tell the user.
/// </summary>
/// <param name="Value">The CKA value.</param>
/// <param name="Batches">Minibatches that counted.</param>
/// <param name="DroppedRows">Rows of a trailing batch with fewer than 4 rows, left out.</param>
/// <param name="Warnings">Human-readable warnings (e.g. the dropped trailing batch).</param>
public sealed record MinibatchCkaResult(double Value, int Batches, int DroppedRows, IReadOnlyList<string> Warnings);
