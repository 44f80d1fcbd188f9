using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Similarity;

/// <summary>
/// CKA between every pair of layers of one model (columns null) or between the layers of two
/// models, given each layer's activations for the same examples in the same order ([n, ...] tensors).
/// </summary>
public static class AllPairsCka
{
    /// <summary>
    /// Minibatch CKA (paper Eq. 3) over consecutive batches of <paramref name="batchSize"/> rows,
    /// every pair at once through <see cref="MinibatchCkaAccumulator"/>. The accumulator comes back
    /// for its batch count and warnings.
    /// </summary>
    public static CkaMatrix Minibatch(IReadOnlyList<Tensor> rows, IReadOnlyList<string> rowNames,
                                      IReadOnlyList<Tensor>? columns, IReadOnlyList<string>? columnNames,
                                      int batchSize, KernelKind kernel, double rbfThreshold,
                                      IProgressReporter? progress, out MinibatchCkaAccumulator accumulator)
    {
        progress ??= ProgressReporter.None;
        if (batchSize < 4) { throw new RepscopeException($"batch size must be at least 4 (the unbiased HSIC needs 4 rows), got {batchSize}"); }
        long n = CheckLayers(rows, rowNames, columns, columnNames);
        accumulator = columns is null
            ? new MinibatchCkaAccumulator(rowNames, kernel, rbfThreshold)
            : new MinibatchCkaAccumulator(rowNames, columnNames!, kernel, rbfThreshold);
        long batches = (n + batchSize - 1) / batchSize;
        using var task = progress.Start("minibatch CKA", batches);
        for (long start = 0; start < n; start += batchSize)
        {
            using var scope = torch.NewDisposeScope();
            long len = Math.Min(batchSize, n - start);
            var rb = rows.Select(t => t.narrow(0, start, len)).ToArray();
            if (columns is null) { accumulator.Add(rb); }
            else { accumulator.Add(rb, columns.Select(t => t.narrow(0, start, len)).ToArray()); }
            task.Advance(1);
        }
        task.Complete($"{accumulator.Batches} batches");
        return accumulator.Result();
    }

    /// <summary>
    /// CKA on the whole data (no minibatches) for every pair, any kernel and estimator; NaN where
    /// a layer is constant. Pairs are computed one by one (linear: in feature space or Gram space,
    /// whichever is cheaper), so memory stays at the inputs plus two layers.
    /// </summary>
    public static CkaMatrix WholeData(IReadOnlyList<Tensor> rows, IReadOnlyList<string> rowNames,
                                      IReadOnlyList<Tensor>? columns, IReadOnlyList<string>? columnNames,
                                      CkaOptions options, IProgressReporter? progress = null)
    {
        progress ??= ProgressReporter.None;
        options.Validate();
        CheckLayers(rows, rowNames, columns, columnNames);
        bool within = columns is null;
        var cols = columns ?? rows;
        var colNames = columnNames ?? rowNames;
        var v = new double[rows.Count, cols.Count];
        long pairs = within ? rows.Count * (rows.Count + 1L) / 2 : (long)rows.Count * cols.Count;
        using var task = progress.Start("whole-data CKA", pairs);
        if (options is { Kernel: KernelKind.Linear, Estimator: HsicEstimator.Biased })
        {
            LinearWholeData(rows, rowNames, cols, colNames, within, v, task);
            task.Complete();
            return new CkaMatrix(rowNames.ToArray(), colNames.ToArray(), v);
        }
        for (int i = 0; i < rows.Count; i++)
        {
            for (int j = within ? i : 0; j < cols.Count; j++)
            {
                double value;
                try { value = Cka.Compute(rows[i], cols[j], options, $"layer '{rowNames[i]}'", $"layer '{colNames[j]}'"); }
                catch (UndefinedResultException) { value = double.NaN; }
                v[i, j] = value;
                if (within) { v[j, i] = value; }
                task.Advance(1);
            }
        }
        task.Complete();
        return new CkaMatrix(rowNames.ToArray(), colNames.ToArray(), v);
    }

    /// <summary>
    /// Linear biased CKA for every pair: ||Xc'Yc||_F^2 / (||Xc'Xc||_F ||Yc'Yc||_F). The self terms
    /// are computed once per layer; each pair then costs one cross term (feature space when both
    /// layers have fewer features than examples, Gram space otherwise). NaN for a constant layer.
    /// </summary>
    private static void LinearWholeData(IReadOnlyList<Tensor> rows, IReadOnlyList<string> rowNames, IReadOnlyList<Tensor> cols,
                                        IReadOnlyList<string> colNames, bool within, double[,] v, IProgressTask task)
    {
        double[] SelfNorms(IReadOnlyList<Tensor> layers, IReadOnlyList<string> names) => layers.Select((t, i) =>
        {
            using var scope = torch.NewDisposeScope();
            var c = Centred(t, names[i]);
            return c is null ? double.NaN : Math.Sqrt(SquaredCross(c, c));
        }).ToArray();
        double[] rowSelf = SelfNorms(rows, rowNames);
        double[] colSelf = within ? rowSelf : SelfNorms(cols, colNames);
        for (int i = 0; i < rows.Count; i++)
        {
            using var rowScope = torch.NewDisposeScope();
            var ci = Centred(rows[i], rowNames[i]);
            for (int j = within ? i : 0; j < cols.Count; j++)
            {
                using var scope = torch.NewDisposeScope();
                var cj = within && j == i ? ci : Centred(cols[j], colNames[j]);
                double value = ci is null || cj is null ? double.NaN
                    : within && j == i ? 1.0
                    : SquaredCross(ci, cj) / (rowSelf[i] * colSelf[j]);
                v[i, j] = value;
                if (within) { v[j, i] = value; }
                task.Advance(1);
            }
        }
    }

    /// <summary>The column-centred layer in its working precision (float64 if it is float64), or null when constant.</summary>
    private static Tensor? Centred(Tensor t, string name)
    {
        var m = Gram.AsMatrix(t, $"layer '{name}'");
        return Gram.IsConstant(m) ? null : Gram.CentreColumns(Gram.ToSafeScale(m));
    }

    /// <summary>||A'B||_F^2 = &lt;A A', B B'&gt;, in whichever space is cheaper; float64 when either is float64.</summary>
    private static double SquaredCross(Tensor a, Tensor b)
    {
        if (a.dtype != b.dtype) { a = a.to_type(ScalarType.Float64); b = b.to_type(ScalarType.Float64); }
        long n = a.shape[0];
        if (a.shape[1] < n && b.shape[1] < n) { return LinearCka.CrossNormSquared(a, b); }
        using var k = a.mm(a.t()).to_type(ScalarType.Float64);
        using var l = ReferenceEquals(a, b) ? k.alias() : b.mm(b.t()).to_type(ScalarType.Float64);
        return k.mul(l).sum().item<double>();
    }

    internal static long CheckLayers(IReadOnlyList<Tensor> rows, IReadOnlyList<string> rowNames,
                                    IReadOnlyList<Tensor>? columns, IReadOnlyList<string>? columnNames)
    {
        if (rows.Count == 0) { throw new RepscopeException("no layers to compare"); }
        if (rows.Count != rowNames.Count || (columns is null) != (columnNames is null) || (columns is not null && columns.Count != columnNames!.Count))
        {
            throw new ArgumentException("one name per layer is needed");
        }
        if (columns is { Count: 0 }) { throw new RepscopeException("no layers to compare in the second model"); }
        long n = rows[0].dim() == 0 ? 1 : rows[0].shape[0];
        foreach (var (t, name) in rows.Zip(rowNames).Concat(columns is null ? [] : columns.Zip(columnNames!)))
        {
            long r = t.dim() == 0 ? 1 : t.shape[0];
            if (r != n)
            {
                throw new RepscopeException($"layer '{name}' has {r} examples (rows), layer '{rowNames[0]}' has {n}; all layers need the same examples");
            }
        }
        return n;
    }
}
