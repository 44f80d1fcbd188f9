using Repscope.Interop;
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
        if (batchSize < 4) { throw new RepscopeException($"batch size must be at least 4 (the unbiased HSIC needs 4 rows), got {batchSize}"); }
        long n = CheckLayers(rows, rowNames, columns, columnNames);
        long batches = (n + batchSize - 1) / batchSize;
        return Accumulate(rows, rowNames, columns, columnNames, kernel, rbfThreshold, progress, batches,
                          k => (k * batchSize, Math.Min(batchSize, n - k * batchSize)), null, out accumulator);
    }

    /// <summary>
    /// Minibatch CKA (paper Eq. 3) over the batches of <paramref name="plan"/>: equal batches, no
    /// row dropped, in a seeded random order or in file order.
    /// </summary>
    public static CkaMatrix Minibatch(IReadOnlyList<Tensor> rows, IReadOnlyList<string> rowNames,
                                      IReadOnlyList<Tensor>? columns, IReadOnlyList<string>? columnNames,
                                      BatchPlan plan, KernelKind kernel, double rbfThreshold,
                                      IProgressReporter? progress, out MinibatchCkaAccumulator accumulator,
                                      int firstBatch = 0, int endBatch = -1)
    {
        long n = CheckLayers(rows, rowNames, columns, columnNames);
        if (plan.Rows != n) { throw new ArgumentException($"the plan is for {plan.Rows} rows, the layers have {n}", nameof(plan)); }
        if (endBatch < 0) { endBatch = plan.Count; }
        return Accumulate(rows, rowNames, columns, columnNames, kernel, rbfThreshold, progress, endBatch - firstBatch,
                          k => (plan.Start(firstBatch + (int)k), plan.Length(firstBatch + (int)k)), plan.Order(), out accumulator);
    }

    /// <summary>
    /// Minibatch CKA (paper Eq. 3) of arrays read from their files a batch at a time (<see cref="StreamedBatches"/>:
    /// memory is two batches of every layer, not the arrays), over the batches <paramref name="firstBatch"/> to
    /// <paramref name="endBatch"/> (-1: the last) of <paramref name="plan"/>.
    /// </summary>
    internal static CkaMatrix Minibatch(IReadOnlyList<StoredArray> rows, IReadOnlyList<StoredArray>? columns, BatchPlan plan,
                                        KernelKind kernel, double rbfThreshold, IProgressReporter? progress,
                                        out MinibatchCkaAccumulator accumulator, int firstBatch = 0, int endBatch = -1)
    {
        foreach (var a in rows.Concat(columns ?? []))
        {
            if (a.Rows != plan.Rows) { throw new RepscopeException($"{a.Source} has {a.Rows} rows (examples), expected {plan.Rows}; every array must hold the same examples"); }
        }
        using var stream = new StreamedBatches([.. rows, .. columns ?? []], plan, firstBatch, endBatch);
        return Accumulate(rows.Select(a => a.Name).ToArray(), columns?.Select(a => a.Name).ToArray(), kernel, rbfThreshold, progress,
                          (endBatch < 0 ? plan.Count : endBatch) - firstBatch, stream.Batches().Select(x => (x.Layers, (int[]?)x.Scales)), overwrite: true, out accumulator);
    }

    private static CkaMatrix Accumulate(IReadOnlyList<Tensor> rows, IReadOnlyList<string> rowNames,
                                        IReadOnlyList<Tensor>? columns, IReadOnlyList<string>? columnNames,
                                        KernelKind kernel, double rbfThreshold, IProgressReporter? progress,
                                        long batches, Func<long, (long Start, long Length)> range, long[]? order,
                                        out MinibatchCkaAccumulator accumulator)
    {
        IEnumerable<(Tensor[], int[]?)> Batches()
        {
            for (long k = 0; k < batches; k++)
            {
                var (start, len) = range(k);
                using var index = order is null ? null : torch.tensor(order[(int)start..(int)(start + len)]);
                Tensor Take(Tensor t) => index is null ? t.narrow(0, start, len) : t.index_select(0, index);
                var batch = rows.Concat(columns ?? []).Select(Take).ToArray();
                try { yield return (batch, null); }
                finally { foreach (var t in batch) { t.Dispose(); } }
            }
        }
        return Accumulate(rowNames, columnNames, kernel, rbfThreshold, progress, batches, Batches(), overwrite: false, out accumulator);
    }

    /// <summary>
    /// The loop behind every minibatch map: each batch holds the row layers, then the column layers (if any), with their
    /// power-of-two scales when the source knows them (null: found from the tensors).
    /// </summary>
    private static CkaMatrix Accumulate(IReadOnlyList<string> rowNames, IReadOnlyList<string>? columnNames, KernelKind kernel, double rbfThreshold,
                                        IProgressReporter? progress, long batches, IEnumerable<(Tensor[] Layers, int[]? Scales)> source, bool overwrite,
                                        out MinibatchCkaAccumulator accumulator)
    {
        progress ??= ProgressReporter.None;
        accumulator = columnNames is null
            ? new MinibatchCkaAccumulator(rowNames, kernel, rbfThreshold)
            : new MinibatchCkaAccumulator(rowNames, columnNames, kernel, rbfThreshold);
        using var task = progress.Start("minibatch CKA", batches);
        int r = rowNames.Count;
        // Layers shared among as many threads as libtorch has (each running libtorch single-threaded: the same numbers
        // whatever the count), with the buffers kept from batch to batch.
        using var workers = GramWorkers.ForCallingThread();
        foreach (var (batch, scales) in source)
        {
            using var scope = torch.NewDisposeScope();
            if (columnNames is null) { accumulator.Add(batch, overwrite, workers, scales); }
            else { accumulator.Add(batch[..r], batch[r..], overwrite, workers, scales?[..r], scales?[r..]); }
            task.Advance(1);
        }
        task.Complete($"{accumulator.Batches} batches");
        return accumulator.Result();
    }

    /// <summary>
    /// CKA on the whole data (no minibatches) for every pair, any kernel and estimator; NaN where a layer is constant (or
    /// its RBF bandwidth is undefined). Each layer's centred Gram matrix is computed once per group of layers that fits
    /// <see cref="GramBudgetBytes"/> and every pair of a group comes from one matrix product (linear CKA with narrow
    /// layers: pair by pair in feature space, which is cheaper). The layers are shared among as many threads as libtorch
    /// has, each running libtorch single-threaded, so the map does not depend on the thread count.
    /// </summary>
    public static CkaMatrix WholeData(IReadOnlyList<Tensor> rows, IReadOnlyList<string> rowNames,
                                      IReadOnlyList<Tensor>? columns, IReadOnlyList<string>? columnNames,
                                      CkaOptions options, IProgressReporter? progress = null)
        => WholeData(rows, rowNames, columns, columnNames, options, progress, GramBudgetBytes);

    /// <summary><see cref="WholeData(IReadOnlyList{Tensor}, IReadOnlyList{string}, IReadOnlyList{Tensor}?, IReadOnlyList{string}?, CkaOptions, IProgressReporter?)"/> with another memory budget for the Grams held at once.</summary>
    internal static CkaMatrix WholeData(IReadOnlyList<Tensor> rows, IReadOnlyList<string> rowNames,
                                        IReadOnlyList<Tensor>? columns, IReadOnlyList<string>? columnNames,
                                        CkaOptions options, IProgressReporter? progress, long gramBudgetBytes)
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
        using var workers = GramWorkers.ForCallingThread();
        long n = rows[0].shape[0];
        // Layers of different precisions are all taken in float64 (a pair of them would be).
        bool float64 = rows.Concat(cols).Select(t => Gram.WorkingType(t.dtype)).Distinct().Count() > 1;
        if (options is { Kernel: KernelKind.Linear, Estimator: HsicEstimator.Biased })
        {
            bool gramSpace = rows.Concat(cols).Any(t => t.numel() / Math.Max(1, n) >= n);
            if (gramSpace) { WholeDataGrams(rows, rowNames, cols, colNames, within, float64, options, gramBudgetBytes, v, task, workers); }
            else { LinearWholeData(rows, rowNames, cols, colNames, within, v, task, workers); }
        }
        else
        {
            if (options.Estimator == HsicEstimator.Unbiased && n < 4)
            {
                foreach (int i in Enumerable.Range(0, rows.Count)) { foreach (int j in Enumerable.Range(0, cols.Count)) { v[i, j] = double.NaN; } }
            }
            else { WholeDataGrams(rows, rowNames, cols, colNames, within, float64, options, gramBudgetBytes, v, task, workers); }
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
                                        IReadOnlyList<string> colNames, bool within, double[,] v, IProgressTask task, GramWorkers workers)
    {
        double[] SelfNorms(IReadOnlyList<Tensor> layers, IReadOnlyList<string> names)
        {
            var norms = new double[layers.Count];
            workers.Run(layers.Count, (i, _) =>
            {
                var c = Centred(layers[i], names[i]);
                norms[i] = c is null ? double.NaN : Math.Sqrt(SquaredCross(c, c));
            });
            return norms;
        }
        double[] rowSelf = SelfNorms(rows, rowNames);
        double[] colSelf = within ? rowSelf : SelfNorms(cols, colNames);
        var todo = new List<(int I, int J)>();
        for (int i = 0; i < rows.Count; i++)
        {
            for (int j = within ? i : 0; j < cols.Count; j++) { todo.Add((i, j)); }
        }
        workers.Run(todo.Count, (k, _) =>
        {
            var (i, j) = todo[k];
            var ci = Centred(rows[i], rowNames[i]);
            var cj = within && j == i ? ci : Centred(cols[j], colNames[j]);
            double value = ci is null || cj is null ? double.NaN
                : within && j == i ? 1.0
                : SquaredCross(ci, cj) / (rowSelf[i] * colSelf[j]);
            v[i, j] = value;
            if (within) { v[j, i] = value; }
        });
        task.Advance(todo.Count);
    }

    /// <summary>
    /// Memory for the centred Gram matrices held at once by <see cref="WholeDataGrams"/> (n^2 x 8 bytes each: 128 MiB at
    /// n = 4,096, so 4 layers per group; at n = 11,585 one Gram alone is past it and the groups hold one layer each).
    /// </summary>
    internal const long GramBudgetBytes = 1L << 30;

    /// <summary>
    /// CKA for every pair from each layer's centred Gram matrix G (flattened; one row of a stack per layer):
    /// &lt;G_i, G_j&gt; / (||G_i|| ||G_j||), with G = Xc Xc' for linear biased CKA, H K H for the biased HSIC of another
    /// kernel and the U-centred K (Szekely and Rizzo 2014) for the unbiased one (&lt;U(K), U(L)&gt; = n(n-3) HSIC1).
    /// The Grams are computed once per group of layers that fits <see cref="GramBudgetBytes"/> (each layer on one worker)
    /// and G_r G_c' gives a whole block of pairs in one matrix product (on one worker); the per-pair way recomputes
    /// both Grams for every pair. NaN for a constant layer (or an RBF bandwidth that is undefined).
    /// </summary>
    private static void WholeDataGrams(IReadOnlyList<Tensor> rows, IReadOnlyList<string> rowNames, IReadOnlyList<Tensor> cols,
                                       IReadOnlyList<string> colNames, bool within, bool float64, CkaOptions options, long budgetBytes, double[,] v,
                                       IProgressTask task, GramWorkers workers)
    {
        long n = rows[0].shape[0];
        int group = (int)Math.Max(1, budgetBytes / 2 / (n * n * sizeof(double)));
        bool linearBiased = options is { Kernel: KernelKind.Linear, Estimator: HsicEstimator.Biased };
        Tensor? CentredGram(Tensor layer, string name)
        {
            var c = Centred(layer, name);
            if (c is null) { return null; }
            if (float64) { c = c.to_type(ScalarType.Float64); }
            if (linearBiased) { return Gram.SymmetricProduct(c); }   // Xc Xc' is already H K H
            Tensor k;
            try { k = options.Kernel == KernelKind.Linear ? Gram.SymmetricProduct(c) : Gram.RbfOfCentred(c, options.RbfThreshold, $"layer '{name}'"); }
            catch (UndefinedResultException) { return null; }
            return options.Estimator == HsicEstimator.Biased ? Hsic.DoubleCentre(k) : Hsic.UCentreInPlace(k);
        }
        (Tensor G, double[] SquaredNorms) Stack(IReadOnlyList<Tensor> layers, IReadOnlyList<string> names, int from, int count)
        {
            var stacked = torch.zeros(count, n * n, dtype: ScalarType.Float64);
            var squaredNorms = new double[count];   // ||G||^2 of each layer's centred Gram (NaN: constant)
            workers.Run(count, (k, _) =>
            {
                var g = CentredGram(layers[from + k], names[from + k]);
                if (g is null) { squaredNorms[k] = double.NaN; return; }
                using var row = stacked[k];
                row.copy_(g.reshape(-1));
                squaredNorms[k] = row.dot(row).item<double>();
            });
            return (stacked, squaredNorms);
        }
        for (int r0 = 0; r0 < rows.Count; r0 += group)
        {
            int rc = Math.Min(group, rows.Count - r0);
            var (gr, nr2) = Stack(rows, rowNames, r0, rc);
            using (gr)
            {
                for (int c0 = within ? r0 : 0; c0 < cols.Count; c0 += group)
                {
                    int cc = Math.Min(group, cols.Count - c0);
                    var (gc, nc2) = within && c0 == r0 ? (gr, nr2) : Stack(cols, colNames, c0, cc);
                    double[] p = [];
                    workers.Run(1, (_, _) => { using var products = gr.mm(gc.t()); p = products.data<double>().ToArray(); });
                    if (!ReferenceEquals(gc, gr)) { gc.Dispose(); }
                    for (int a = 0; a < rc; a++)
                    {
                        for (int b = 0; b < cc; b++)
                        {
                            int i = r0 + a, j = c0 + b;
                            if (within && j < i) { continue; }
                            double value = double.IsNaN(nr2[a]) || double.IsNaN(nc2[b]) ? double.NaN
                                : linearBiased && within && i == j ? 1.0
                                : linearBiased ? p[a * cc + b] / (Math.Sqrt(nr2[a]) * Math.Sqrt(nc2[b]))
                                : LinearCka.Ratio(p[a * cc + b], nr2[a], nc2[b]);
                            v[i, j] = value;
                            if (within) { v[j, i] = value; }
                            task.Advance(1);
                        }
                    }
                }
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
