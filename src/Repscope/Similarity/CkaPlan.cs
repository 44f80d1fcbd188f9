namespace Repscope.Similarity;

/// <summary>
/// How the rows of activation files are split into minibatches: n rows into
/// k = max(1, round(n / B)) batches of equal size (sizes differ by at most one row), so no row is
/// dropped and no short batch weighs as much as a full one; optionally in a seeded random order
/// (rows saved class by class would otherwise give batches of one or two classes).
/// </summary>
public sealed record BatchPlan(long Rows, int BatchSize, long? ShuffleSeed)
{
    /// <summary>Number of batches.</summary>
    public int Count => (int)Math.Max(1, Math.Round((double)Rows / BatchSize, MidpointRounding.AwayFromZero));

    /// <summary>First row (in <see cref="Order"/>) of batch <paramref name="k"/>.</summary>
    public long Start(int k) => k * Rows / Count;

    public long Length(int k) => Start(k + 1) - Start(k);

    public long SmallestBatch => Rows / Count;

    public long LargestBatch => (Rows + Count - 1) / Count;

    /// <summary>The row order the batches cut: a seeded permutation (Fisher-Yates over SplitMix64), or null for file order.</summary>
    public long[]? Order()
    {
        if (ShuffleSeed is not long seed) { return null; }
        var random = new SeededRandom(unchecked((ulong)seed));
        var order = new long[Rows];
        for (long i = 0; i < Rows; i++) { order[i] = i; }
        for (long i = Rows - 1; i > 0; i--)
        {
            long j = (long)(random.NextUInt64() % (ulong)(i + 1));
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    /// <summary>"4 batches of 25 rows, shuffled (seed 0)" / "3 batches of 33-34 rows, in file order".</summary>
    public string Describe() =>
        $"{Count} {(Count == 1 ? "batch" : "batches")} of {SmallestBatch}{(LargestBatch > SmallestBatch ? $"-{LargestBatch}" : "")} rows, " +
        (ShuffleSeed is long s ? $"shuffled (seed {s})" : "in file order");
}

/// <summary>
/// The one rule that <c>cka</c> and <c>heatmap</c> follow for estimator and batching (README):
/// a batch size asks for minibatch CKA (paper Eq. 3, unbiased HSIC per batch); without one, whole
/// data up to <see cref="WholeDataLimit"/> rows (biased HSIC unless the unbiased one is asked for),
/// minibatches of <see cref="DefaultBatchSize"/> above it (unless the biased estimator is asked for,
/// which exists on whole data only).
/// </summary>
public sealed record CkaPlan(HsicEstimator Estimator, BatchPlan? Batches)
{
    /// <summary>Whole-data CKA up to this many rows by default: its Gram matrices take n^2 x 8 bytes per layer (128 MiB at 4,096).</summary>
    public const long WholeDataLimit = 4096;

    /// <summary>The paper's minibatch size.</summary>
    public const int DefaultBatchSize = 256;

    /// <summary>The seed of the row order of minibatches unless another is given.</summary>
    public const long DefaultShuffleSeed = 0;

    /// <param name="rows">Examples (rows) in the data.</param>
    /// <param name="batchSize">Rows per minibatch; null: the rule above.</param>
    /// <param name="estimator">Null: biased on whole data, unbiased in minibatches.</param>
    /// <param name="shuffleSeed">Seed of the row order of minibatches; null: file order.</param>
    public static CkaPlan Choose(long rows, int? batchSize, HsicEstimator? estimator, long? shuffleSeed)
    {
        if (batchSize is int b)
        {
            if (b < 4) { throw new RepscopeException($"batchSize must be at least 4 (the unbiased HSIC needs 4 rows per batch), got {b}"); }
            if (estimator == HsicEstimator.Biased)
            {
                throw new RepscopeException("batchSize: minibatch CKA uses the unbiased HSIC (paper Eq. 3); the biased estimator is computed on the whole data only");
            }
            return new CkaPlan(HsicEstimator.Unbiased, new BatchPlan(rows, b, shuffleSeed));
        }
        if (estimator == HsicEstimator.Biased || rows <= WholeDataLimit) { return new CkaPlan(estimator ?? HsicEstimator.Biased, null); }
        return new CkaPlan(HsicEstimator.Unbiased, new BatchPlan(rows, DefaultBatchSize, shuffleSeed));
    }

    /// <summary>"biased HSIC, whole data" / "unbiased HSIC, minibatch: 4 batches of 25 rows, shuffled (seed 0)".</summary>
    public string Describe() =>
        $"{(Estimator == HsicEstimator.Biased ? "biased" : "unbiased")} HSIC, " + (Batches is null ? "whole data" : $"minibatch: {Batches.Describe()}");
}
