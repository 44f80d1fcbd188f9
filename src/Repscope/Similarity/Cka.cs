using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Similarity;

/// <summary>
/// Centered kernel alignment (Kornblith et al. 2019) of two representations, rows = examples
/// (any trailing shape is flattened into features): CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)).
/// Pure functions on tensors. Float32 inputs: Gram products in float32, HSIC sums in float64;
/// float64 inputs: float64 throughout. A constant representation makes CKA undefined:
/// <see cref="UndefinedResultException"/> naming it.
/// </summary>
public static class Cka
{
    /// <summary>Linear CKA, biased HSIC, whole data (feature space or Gram space, whichever is cheaper).</summary>
    public static double Linear(Tensor x, Tensor y) => LinearCka.Compute(x, y);

    /// <summary>CKA on the whole data with any kernel and estimator.</summary>
    public static double Compute(Tensor x, Tensor y, CkaOptions options) => Compute(x, y, options, "x", "y");

    /// <summary>CKA on the whole data; <paramref name="xName"/> and <paramref name="yName"/> appear in error messages.</summary>
    public static double Compute(Tensor x, Tensor y, CkaOptions options, string xName, string yName)
    {
        options.Validate();
        if (options is { Kernel: KernelKind.Linear, Estimator: HsicEstimator.Biased }) { return LinearCka.Compute(x, y, xName, yName); }
        using var scope = torch.NewDisposeScope();
        var (cx, cy) = LinearCka.Prepare(x, y, xName, yName);
        long n = cx.shape[0];
        if (options.Estimator == HsicEstimator.Unbiased && n < 4)
        {
            throw new UndefinedResultException($"{xName}: {n} rows; the unbiased HSIC needs at least 4");
        }
        var k = Kernel(cx, options, xName);
        var l = Kernel(cy, options, yName);
        Func<Tensor, Tensor, double> hsic = options.Estimator == HsicEstimator.Biased ? Hsic.Biased : Hsic.Unbiased;
        double value = LinearCka.Ratio(hsic(k, l), hsic(k, k), hsic(l, l));
        if (double.IsNaN(value))
        {
            throw new UndefinedResultException($"{xName} or {yName}: the unbiased self-similarity is not positive: CKA is undefined");
        }
        return value;
    }

    /// <summary>
    /// Minibatch CKA (paper Eq. 3) over consecutive batches of <paramref name="batchSize"/> rows:
    /// mean HSIC1(K_i, L_i) / sqrt(mean HSIC1(K_i, K_i) mean HSIC1(L_i, L_i)), unbiased HSIC,
    /// equal batch weights. A trailing batch with fewer than 4 rows is left out (see <see cref="MinibatchDetailed"/>).
    /// </summary>
    public static double Minibatch(Tensor x, Tensor y, int batchSize, KernelKind kernel = KernelKind.Linear, double rbfThreshold = 0.5) =>
        MinibatchDetailed(x, y, batchSize, kernel, rbfThreshold).Value;

    /// <summary>Minibatch CKA with the number of batches used and any warning to show.</summary>
    public static MinibatchCkaResult MinibatchDetailed(Tensor x, Tensor y, int batchSize, KernelKind kernel = KernelKind.Linear,
                                                       double rbfThreshold = 0.5, string xName = "x", string yName = "y",
                                                       IProgressReporter? progress = null)
        => MinibatchPair(x, y, xName, yName, (mx, my) => (AllPairsCka.Minibatch([mx], [xName], [my], [yName], batchSize, kernel, rbfThreshold, progress, out var acc), acc));

    /// <summary>Minibatch CKA over the batches of <paramref name="plan"/> (equal batches, seeded order or file order).</summary>
    public static MinibatchCkaResult MinibatchDetailed(Tensor x, Tensor y, BatchPlan plan, KernelKind kernel = KernelKind.Linear,
                                                       double rbfThreshold = 0.5, string xName = "x", string yName = "y",
                                                       IProgressReporter? progress = null)
        => MinibatchPair(x, y, xName, yName, (mx, my) => (AllPairsCka.Minibatch([mx], [xName], [my], [yName], plan, kernel, rbfThreshold, progress, out var acc), acc));

    private static MinibatchCkaResult MinibatchPair(Tensor x, Tensor y, string xName, string yName,
                                                    Func<Tensor, Tensor, (CkaMatrix Matrix, MinibatchCkaAccumulator Accumulator)> compute)
    {
        using var scope = torch.NewDisposeScope();
        var mx = Gram.AsMatrix(x, xName);
        var my = Gram.AsMatrix(y, yName);
        LinearCka.CheckSameRows(mx, my, xName, yName);
        var (matrix, acc) = compute(mx, my);
        double value = matrix[0, 0];
        if (double.IsNaN(value))
        {
            string which = Gram.IsConstant(mx) ? xName : Gram.IsConstant(my) ? yName : $"{xName} or {yName}";
            throw new UndefinedResultException(acc.Batches == 0
                ? $"{xName}: {mx.shape[0]} rows; minibatch CKA needs at least one batch of 4 or more rows"
                : $"{which}: constant representation within every minibatch (zero variance): CKA is undefined");
        }
        return new MinibatchCkaResult(value, acc.Batches, (int)acc.DroppedRows, acc.Warnings);
    }

    private static Tensor Kernel(Tensor centred, CkaOptions options, string name) =>
        options.Kernel == KernelKind.Linear
            ? centred.mm(centred.t()).to_type(ScalarType.Float64)
            : Gram.RbfOfCentred(centred, options.RbfThreshold, name);
}
