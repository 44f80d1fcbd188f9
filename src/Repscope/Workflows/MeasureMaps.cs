using Repscope.Analysis;
using Repscope.Models;
using Repscope.Similarity;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Workflows;

/// <summary>
/// The measure behind a map and its settings, as layers.json / compare_*.json record them.
/// </summary>
/// <param name="Measure">cka, cca, svcca, pwcca, procrustes or rsa (docs/measures.md).</param>
/// <param name="Description">In words, e.g. "linear CKA, unbiased HSIC".</param>
/// <param name="Symmetric">measure(row, column) = measure(column, row); false for PWCCA only.</param>
/// <param name="Orientation">What <c>values[i][j]</c> is, and for PWCCA which side gives the weights.</param>
/// <param name="Computation">How the data was used and what memory it needed.</param>
/// <param name="Kernel">CKA only: linear (the streaming analyses use the linear kernel).</param>
/// <param name="Estimator">CKA only: the HSIC estimator.</param>
/// <param name="BatchSize">CKA only: the minibatch size of minibatch CKA.</param>
/// <param name="SvccaVarianceKept">SVCCA only: the fraction of the variance each layer's kept directions hold.</param>
/// <param name="RankTolerance">CCA family and Procrustes: singular values below this fraction of the largest count as zero.</param>
public sealed record MapMeasure(SimilarityMeasure Measure, string Description, bool Symmetric, string Orientation, string Computation,
                                KernelKind? Kernel = null, HsicEstimator? Estimator = null, int? BatchSize = null,
                                double? SvccaVarianceKept = null, double? RankTolerance = null)
{
    /// <summary>Minibatch linear CKA with the unbiased HSIC (paper Eq. 3), the streaming default of <c>layers</c> and <c>compare</c>.</summary>
    public static MapMeasure MinibatchCka(int batchSize) =>
        new(SimilarityMeasure.Cka, Measures.Describe(SimilarityMeasure.Cka, new MeasureOptions(new CkaOptions(KernelKind.Linear, HsicEstimator.Unbiased))) +
            $", minibatch (paper Eq. 3)", Symmetric: true, Orientation: "values[i][j] = CKA(row layer i, column layer j)",
            Computation: $"streamed: per minibatch of {batchSize} examples the unbiased HSIC of every pair is accumulated; memory: one minibatch",
            KernelKind.Linear, HsicEstimator.Unbiased, batchSize);

    /// <summary>A whole-data measure (not CKA) with its settings.</summary>
    public static MapMeasure WholeData(SimilarityMeasure measure, MeasureOptions options, long examples, long budgetBytes)
    {
        if (measure == SimilarityMeasure.Cka) { throw new ArgumentException("CKA streams: use MinibatchCka", nameof(measure)); }
        string orientation = measure == SimilarityMeasure.Pwcca
            ? "values[i][j] = PWCCA(row layer i, column layer j): the weights come from the row layer; not symmetric"
            : $"values[i][j] = {Measures.Label(measure)}(row layer i, column layer j); symmetric";
        string kept = measure == SimilarityMeasure.Rsa
            ? "the ranks of the n(n-1)/2 dissimilarities between examples (1 - Pearson correlation), computed from the n x n Gram of the layer"
            : "the thin SVD of the centred layer, computed once per layer (not once per pair): n x min(n, p) float64" +
              (measure == SimilarityMeasure.Pwcca ? ", plus the r x p loadings" : "");
        return new(measure, Measures.Describe(measure, options), Measures.IsSymmetric(measure), orientation,
                   $"whole data of {examples} examples, read in passes over the model holding at most {budgetBytes / (1 << 20)} MiB of float32 " +
                   $"activations (at least one layer) at a time; kept per layer: {kept}",
                   SvccaVarianceKept: measure == SimilarityMeasure.Svcca ? options.SvccaVarianceKept : null,
                   RankTolerance: measure is SimilarityMeasure.Rsa ? null : LayerSubspace.RankTolerance);
    }
}

/// <summary>
/// Whole-data measures (CCA, SVCCA, PWCCA, Procrustes, RSA) between the layers of activation sources (runs, ONNX models).
/// A pass over the model fills as many layers' [n, p] float32 activations as fit in <see cref="DefaultBudgetBytes"/> (at least
/// one); each is then decomposed once (<see cref="Measures"/>: thin SVD, or the ranks of the dissimilarities for RSA) and
/// released, so memory is one budget of raw activations plus the kept decompositions, and an all-pairs map costs one
/// decomposition per layer and one small product per pair. More layers than fit in the budget cost more passes.
/// </summary>
public static class MeasureMaps
{
    /// <summary>Raw activations held at once while reading layers for a whole-data measure (512 MiB of float32).</summary>
    public const long DefaultBudgetBytes = 512L << 20;

    /// <summary>Every layer of <paramref name="source"/> against every other (both orders for PWCCA).</summary>
    public static MeasureMatrix WithinModel(IActivationSource source, SimilarityMeasure measure, MeasureOptions options, int batchSize,
                                            IProgressReporter? progress = null, long budgetBytes = DefaultBudgetBytes)
    {
        progress ??= ProgressReporter.None;
        return Measures.AllPairsOfLayers(measure, Layers(source, batchSize, budgetBytes, progress), source.Layers.Count, null, 0,
                                         release: true, source.Examples, options, progress);
    }

    /// <summary>Every layer of <paramref name="rows"/> against every layer of <paramref name="columns"/> (same examples, same order).</summary>
    public static MeasureMatrix CrossModel(IActivationSource rows, IActivationSource columns, SimilarityMeasure measure, MeasureOptions options,
                                           int batchSize, IProgressReporter? progress = null, long budgetBytes = DefaultBudgetBytes)
    {
        progress ??= ProgressReporter.None;
        if (rows.Examples != columns.Examples)
        {
            throw new RepscopeException($"{columns.Path} has {columns.Examples} examples, {rows.Path} has {rows.Examples}; the measures need the same examples");
        }
        return Measures.AllPairsOfLayers(measure, Layers(rows, batchSize, budgetBytes, progress), rows.Layers.Count,
                                         Layers(columns, batchSize, budgetBytes, progress), columns.Layers.Count,
                                         release: true, rows.Examples, options, progress);
    }

    /// <summary>The block-structure score of a within-model map (counted in residual blocks where the names say so); null below 2 layers.</summary>
    public static BlockStructureScoreResult? Score(CkaMatrix map)
    {
        if (map.Rows.Count < 2) { return null; }
        var units = BlockStructureScore.ResidualBlockUnits(map.Rows);
        return BlockStructureScore.Score(map.Values, map.Rows, units.Any(u => u >= 0) ? units : null);
    }

    /// <summary>
    /// The layers of <paramref name="source"/> in forward order, each [n, p] float32 over all its examples, read in passes that
    /// each fill as many layers as <paramref name="budgetBytes"/> allows (at least one). The caller disposes each tensor.
    /// </summary>
    public static IEnumerable<(Tensor Data, string Name)> Layers(IActivationSource source, int batchSize, long budgetBytes, IProgressReporter progress)
    {
        var names = source.Layers;
        long n = source.Examples;
        var features = Features(source);
        int first = 0;
        while (first < names.Count)
        {
            // The next group: consecutive layers whose activations fit the budget together.
            int end = first + 1;
            long bytes = n * features[first] * 4;
            while (end < names.Count && bytes + n * features[end] * 4 <= budgetBytes) { bytes += n * features[end++] * 4; }
            var group = Fill(source, first, end, features, batchSize, progress);
            try
            {
                for (int k = 0; k < group.Length; k++)
                {
                    var t = group[k];
                    group[k] = null!;   // the caller owns it now
                    yield return (t, names[first + k]);
                }
            }
            finally
            {
                foreach (var t in group) { t?.Dispose(); }   // left unread when the caller stopped early
            }
            first = end;
        }
    }

    /// <summary>Feature count of every tap, from a pass over the first example.</summary>
    private static long[] Features(IActivationSource source)
    {
        long[]? features = null;
        source.Pass(0, 1, 1, ProgressReporter.None)((_, taps) => features ??= taps.Select(t => t.numel() / Math.Max(1, t.shape[0])).ToArray());
        return features ?? throw new RepscopeException($"{source.Path}: no examples to read layers from");
    }

    private static Tensor[] Fill(IActivationSource source, int first, int end, long[] features, int batchSize, IProgressReporter progress)
    {
        long n = source.Examples;
        var group = new Tensor[end - first];
        try
        {
            for (int k = 0; k < group.Length; k++) { group[k] = torch.empty(n, features[first + k], ScalarType.Float32).DetachFromDisposeScope(); }
            long offset = 0;
            source.Pass(0, n, batchSize, progress)((_, taps) =>
            {
                long b = taps[first].shape[0];
                for (int k = 0; k < group.Length; k++)
                {
                    using var scope = torch.NewDisposeScope();
                    group[k].narrow(0, offset, b).copy_(taps[first + k].reshape(b, -1));
                }
                offset += b;
            });
            if (offset != n) { throw new RepscopeException($"{source.Path}: a pass delivered {offset} examples, expected {n}"); }
            return group;
        }
        catch
        {
            foreach (var t in group) { t?.Dispose(); }
            throw;
        }
    }
}
