using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Similarity;

/// <summary>
/// All-pairs similarity under one measure, with the reasons for the undefined (NaN) entries.
/// <c>Matrix.Values[i, j]</c> is measure(row layer i, column layer j); for PWCCA the weights come from the row layer.
/// </summary>
public sealed record MeasureMatrix(SimilarityMeasure Measure, CkaMatrix Matrix, IReadOnlyList<string> Undefined, string Description);

/// <summary>
/// The front door to every similarity measure (docs/measures.md): pure functions on tensors of shape
/// [n, ...] (rows = examples, trailing dimensions flattened into features, features centred, float64).
/// <see cref="Compute"/> never throws for an undefined value: it returns NaN and a one-line reason.
/// <para>Memory: CKA streams (minibatches, <see cref="AllPairsCka"/>); the other measures need the whole
/// data and work per layer from its thin SVD (CCA family, Procrustes: n x min(n, p) float64 kept per
/// layer) or its n x n correlation Gram (RSA: n(n−1)/2 ranks kept per layer), so that an all-pairs map
/// costs one decomposition per layer and a small product per pair.</para>
/// </summary>
public static class Measures
{
    /// <summary>The measure's name in messages.</summary>
    public static string Label(SimilarityMeasure measure) => measure switch
    {
        SimilarityMeasure.Cka => "CKA",
        SimilarityMeasure.Cca => "R2CCA",
        SimilarityMeasure.Svcca => "SVCCA",
        SimilarityMeasure.Pwcca => "PWCCA",
        SimilarityMeasure.Procrustes => "Procrustes similarity",
        SimilarityMeasure.Rsa => "RSA",
        _ => measure.ToString(),
    };

    /// <summary>True when measure(X, Y) = measure(Y, X) (all but PWCCA).</summary>
    public static bool IsSymmetric(SimilarityMeasure measure) => measure != SimilarityMeasure.Pwcca;

    /// <summary>True when the measure can be computed batch by batch (minibatch CKA); the others need the whole data.</summary>
    public static bool Streams(SimilarityMeasure measure) => measure == SimilarityMeasure.Cka;

    /// <summary>The similarity of X and Y under <paramref name="measure"/>; NaN with a reason when undefined.</summary>
    public static MeasureResult Compute(SimilarityMeasure measure, Tensor x, Tensor y, MeasureOptions? options = null,
                                        string xName = "x", string yName = "y")
    {
        options = (options ?? MeasureOptions.Default).Validated();
        CheckSameRows(x, y, xName, yName);
        long n = x.dim() == 0 ? 1 : x.shape[0];
        if (measure == SimilarityMeasure.Cka)
        {
            try { return new MeasureResult(measure, Cka.Compute(x, y, options.CkaOrDefault, xName, yName), n); }
            catch (UndefinedResultException e) { return new MeasureResult(measure, double.NaN, n, Reason: e.Message); }
        }
        using var sx = LayerSubspace.Of(x, xName, measure, options);
        using var sy = LayerSubspace.Of(y, yName, measure, options);
        if ((sx.Reason ?? sy.Reason) is string reason) { return new MeasureResult(measure, double.NaN, n, Reason: reason); }
        double v = Pair(measure, sx, sy);
        bool dims = measure != SimilarityMeasure.Rsa;
        return new MeasureResult(measure, v, n, dims ? sx.Dimensions : null, dims ? sy.Dimensions : null,
                                 measure == SimilarityMeasure.Procrustes ? Procrustes.DistanceOf(v) : null);
    }

    /// <summary>The value, or <see cref="UndefinedResultException"/> with the reason.</summary>
    public static double Value(SimilarityMeasure measure, Tensor x, Tensor y, MeasureOptions? options = null)
    {
        var r = Compute(measure, x, y, options);
        return r.Reason is null ? r.Value : throw new UndefinedResultException(r.Reason);
    }

    /// <summary>
    /// The measure between every pair of layers of one model (<paramref name="columns"/> null; every
    /// layer against every layer, both orders for PWCCA) or between the layers of two models, on the
    /// whole data. CKA: <see cref="AllPairsCka.WholeData"/> with <see cref="MeasureOptions.Cka"/>.
    /// Others: each layer decomposed once. NaN where undefined, the reasons in <see cref="MeasureMatrix.Undefined"/>.
    /// </summary>
    public static MeasureMatrix AllPairs(SimilarityMeasure measure, IReadOnlyList<Tensor> rows, IReadOnlyList<string> rowNames,
                                         IReadOnlyList<Tensor>? columns, IReadOnlyList<string>? columnNames,
                                         MeasureOptions? options = null, IProgressReporter? progress = null)
    {
        progress ??= ProgressReporter.None;
        options = (options ?? MeasureOptions.Default).Validated();
        long n = AllPairsCka.CheckLayers(rows, rowNames, columns, columnNames);
        if (measure == SimilarityMeasure.Cka)
        {
            var cka = AllPairsCka.WholeData(rows, rowNames, columns, columnNames, options.CkaOrDefault, progress);
            return new MeasureMatrix(measure, cka, [], $"{Describe(measure, options)}, whole data (n = {n})");
        }
        bool within = columns is null;
        var colNames = columnNames ?? rowNames;
        int r = rows.Count, c = within ? r : columns!.Count;
        long pairs = within ? (IsSymmetric(measure) ? r * (r + 1L) / 2 : (long)r * r) : (long)r * c;
        var rowSpaces = new List<LayerSubspace>();
        var colSpaces = new List<LayerSubspace>();
        try
        {
            using (var task = progress.Start($"{Label(measure)}: decompose layers", within ? r : r + c))
            {
                foreach (var (t, name) in rows.Zip(rowNames)) { rowSpaces.Add(LayerSubspace.Of(t, $"layer '{name}'", measure, options)); task.Advance(1); }
                if (!within)
                {
                    foreach (var (t, name) in columns!.Zip(colNames)) { colSpaces.Add(LayerSubspace.Of(t, $"layer '{name}'", measure, options)); task.Advance(1); }
                }
                task.Complete();
            }
            var cols = within ? rowSpaces : colSpaces;
            var v = new double[r, c];
            using (var task = progress.Start($"{Label(measure)}: pairs", pairs))
            {
                for (int i = 0; i < r; i++)
                {
                    for (int j = within && IsSymmetric(measure) ? i : 0; j < c; j++)
                    {
                        var (a, b) = (rowSpaces[i], cols[j]);
                        double value = a.Reason is not null || b.Reason is not null ? double.NaN
                            : within && i == j ? 1.0 // exactly, not up to rounding
                            : Pair(measure, a, b);
                        v[i, j] = value;
                        if (within && IsSymmetric(measure)) { v[j, i] = value; }
                        task.Advance(1);
                    }
                }
                task.Complete();
            }
            var undefined = rowSpaces.Concat(colSpaces).Select(s => s.Reason).OfType<string>().Distinct().ToList();
            return new MeasureMatrix(measure, new CkaMatrix(rowNames.ToArray(), colNames.ToArray(), v), undefined,
                                     $"{Describe(measure, options)}, whole data (n = {n})");
        }
        finally
        {
            foreach (var s in rowSpaces.Concat(colSpaces)) { s.Dispose(); }
        }
    }

    /// <summary>A short description for plot subtitles and summaries.</summary>
    public static string Describe(SimilarityMeasure measure, MeasureOptions? options = null)
    {
        options ??= MeasureOptions.Default;
        return measure switch
        {
            SimilarityMeasure.Cka => $"{(options.CkaOrDefault.Kernel == KernelKind.Linear ? "linear" : $"RBF ({options.CkaOrDefault.RbfThreshold:g})")} CKA, " +
                                     $"{(options.CkaOrDefault.Estimator == HsicEstimator.Biased ? "biased" : "unbiased")} HSIC",
            SimilarityMeasure.Cca => "R2CCA (mean squared canonical correlation)",
            SimilarityMeasure.Svcca => $"SVCCA ({100 * options.SvccaVarianceKept:g} % of the variance kept)",
            _ => Label(measure),
        };
    }

    internal static void ThrowIfUndefined(LayerSubspace a, LayerSubspace b)
    {
        if ((a.Reason ?? b.Reason) is string reason) { throw new UndefinedResultException(reason); }
    }

    private static double Pair(SimilarityMeasure measure, LayerSubspace a, LayerSubspace b) => measure switch
    {
        SimilarityMeasure.Cca => Cca.R2OfBases(a.Basis!, b.Basis!),
        SimilarityMeasure.Svcca => Cca.MeanCorrelationOfBases(a.Basis!, b.Basis!),
        SimilarityMeasure.Pwcca => Cca.PwccaOfBases(a.Basis!, a.Loadings!, b.Basis!),
        SimilarityMeasure.Procrustes => Procrustes.OfScaledBases(a.Basis!, b.Basis!),
        SimilarityMeasure.Rsa => Rsa.OfRanks(a.Basis!, b.Basis!),
        _ => throw new ArgumentOutOfRangeException(nameof(measure)),
    };

    private static void CheckSameRows(Tensor x, Tensor y, string xName, string yName)
    {
        long nx = x.dim() == 0 ? 1 : x.shape[0], ny = y.dim() == 0 ? 1 : y.shape[0];
        if (nx != ny)
        {
            throw new RepscopeException($"{xName} has {nx} examples (rows) but {yName} has {ny}; the measures need the same examples in the same order");
        }
    }
}
