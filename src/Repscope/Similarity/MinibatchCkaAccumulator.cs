using Repscope.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Similarity;

/// <summary>
/// Streaming all-pairs minibatch CKA (Nguyen, Raghu and Kornblith 2021, Eq. 3): feed one minibatch
/// of activations per layer at a time, get the CKA of every pair of layers at the end:
/// mean_i HSIC1(K_i, L_i) / sqrt(mean_i HSIC1(K_i, K_i) mean_i HSIC1(L_i, L_i)), every batch
/// weighing the same. Per batch, each layer's Gram matrix with a zero diagonal is flattened to one
/// row of G; G G' plus two rank-one-per-layer corrections (row sums, totals) then holds b(b-3) x HSIC1
/// for every pair at once (a few matrix products, not one HSIC per pair, and the U-centred Grams are
/// never formed). Across two models: G_A G_B' and the same corrections.
/// A batch with fewer than 4 rows cannot be used (the unbiased HSIC needs 4): it is dropped and
/// a warning is recorded in <see cref="Warnings"/>. A layer that is constant in every batch gets
/// NaN in <see cref="Result"/>. Accumulators over parts of the data can be merged.
/// </summary>
public sealed class MinibatchCkaAccumulator
{
    private readonly string[] _rows;
    private readonly string[] _columns;
    private readonly bool _crossModel;
    private readonly double[,] _cross;     // sum over batches of HSIC1(row i, column j)
    private readonly double[] _rowSelf;    // sum over batches of HSIC1(row i, row i)
    private readonly double[] _columnSelf; // same for columns (== _rowSelf within one model)
    private readonly List<string> _warnings = [];
    private readonly List<double[]> _batchCross = [];       // per batch (when KeepBatches): HSIC1(row i, column j), row-major
    private readonly List<double[]> _batchRowSelf = [];
    private readonly List<double[]> _batchColumnSelf = [];
    // Every HSIC value above is kept relative to a per-layer power of two: the true value of (row i, column j) is
    // the stored one x 2^(_rowShift[i] + _columnShift[j]) (self terms: 2 x the layer's shift). A layer's shift is
    // fixed by its first batch; data at extreme scales (x 1e19, x 1e-25) are divided by a power of two before their
    // Grams are formed (exactly, see Gram.ScaleExponent), so nothing overflows or underflows and CKA is unchanged.
    private readonly int?[] _rowShift;
    private readonly int?[] _columnShift;

    /// <summary>All pairs within one model.</summary>
    public MinibatchCkaAccumulator(IReadOnlyList<string> layers, KernelKind kernel = KernelKind.Linear, double rbfThreshold = 0.5)
        : this(layers, layers, crossModel: false, kernel, rbfThreshold) { }

    /// <summary>All pairs across two models (rows: the first model's layers, columns: the second's).</summary>
    public MinibatchCkaAccumulator(IReadOnlyList<string> rows, IReadOnlyList<string> columns, KernelKind kernel = KernelKind.Linear, double rbfThreshold = 0.5)
        : this(rows, columns, crossModel: true, kernel, rbfThreshold) { }

    private MinibatchCkaAccumulator(IReadOnlyList<string> rows, IReadOnlyList<string> columns, bool crossModel, KernelKind kernel, double rbfThreshold)
    {
        if (rows.Count == 0 || columns.Count == 0) { throw new RepscopeException("CKA needs at least one layer on each side"); }
        new CkaOptions(kernel, HsicEstimator.Unbiased, rbfThreshold).Validate();
        _rows = rows.ToArray();
        _columns = columns.ToArray();
        _crossModel = crossModel;
        Kernel = kernel;
        RbfThreshold = rbfThreshold;
        _cross = new double[_rows.Length, _columns.Length];
        _rowSelf = new double[_rows.Length];
        _columnSelf = crossModel ? new double[_columns.Length] : _rowSelf;
        _rowShift = new int?[_rows.Length];
        _columnShift = crossModel ? new int?[_columns.Length] : _rowShift;
    }

    public IReadOnlyList<string> Rows => _rows;
    public IReadOnlyList<string> Columns => _columns;
    public KernelKind Kernel { get; }
    public double RbfThreshold { get; }
    public bool IsCrossModel => _crossModel;

    /// <summary>
    /// Keep each counted batch's unbiased HSIC values (rows x columns plus the two diagonals, a few KB per batch),
    /// so that <see cref="BatchState"/> can give a bootstrap over batches of test examples. Off by default; it
    /// changes no number of <see cref="Result"/>. Set it before the first batch.
    /// </summary>
    public bool KeepBatches { get; init; }

    /// <summary>Minibatches that counted.</summary>
    public int Batches { get; private set; }

    /// <summary>Examples in the minibatches that counted.</summary>
    public long Examples { get; private set; }

    /// <summary>Examples in batches too small to use (fewer than 4 rows).</summary>
    public long DroppedRows { get; private set; }

    /// <summary>What the caller should tell the user (dropped batches).</summary>
    public IReadOnlyList<string> Warnings => _warnings;

    /// <summary>Adds one minibatch within one model: one [b, ...] tensor per layer, same b for all.</summary>
    public void Add(IReadOnlyList<Tensor> batch) => Add(batch, overwrite: false);

    /// <summary>
    /// Like <see cref="Add(IReadOnlyList{Tensor})"/>; with <paramref name="overwrite"/> the batch's tensors (contiguous
    /// buffers that the caller refills) are centred in place instead of copied first. <paramref name="workers"/> (kept
    /// over many batches) share the layers among threads and keep the buffers; null: as many as libtorch has threads, for this batch.
    /// <paramref name="scales"/>: each layer's <see cref="Gram.ScaleExponent"/> when the caller already knows it (a reader
    /// that passed over the data), else null.
    /// </summary>
    internal void Add(IReadOnlyList<Tensor> batch, bool overwrite, GramWorkers? workers = null, int[]? scales = null)
    {
        if (_crossModel) { throw new InvalidOperationException("this accumulator compares two models: use Add(rowBatch, columnBatch)"); }
        long b = CheckBatch(batch, _rows, -1);
        if (!UsableBatch(b)) { return; }
        using var scope = torch.NewDisposeScope();
        using var own = workers is null ? GramWorkers.ForCallingThread() : null;
        var w = workers ?? own!;
        var g = Grams(w, Side.Rows, batch, _rows, overwrite, scales);
        double[] cross = [];
        w.Run(1, (_, _) => cross = g.Products(g, b));
        AddProducts(cross, null, null, g.Shifts, g.Shifts);
        Finish(b);
    }

    /// <summary>Adds one minibatch across two models: the same b examples through both.</summary>
    public void Add(IReadOnlyList<Tensor> rowBatch, IReadOnlyList<Tensor> columnBatch) => Add(rowBatch, columnBatch, overwrite: false);

    /// <summary>Like <see cref="Add(IReadOnlyList{Tensor}, IReadOnlyList{Tensor})"/>, centring refillable buffers in place with <paramref name="overwrite"/>.</summary>
    internal void Add(IReadOnlyList<Tensor> rowBatch, IReadOnlyList<Tensor> columnBatch, bool overwrite, GramWorkers? workers = null,
                      int[]? rowScales = null, int[]? columnScales = null)
    {
        if (!_crossModel) { throw new InvalidOperationException("this accumulator is within one model: use Add(batch)"); }
        long b = CheckBatch(rowBatch, _rows, -1);
        CheckBatch(columnBatch, _columns, b);
        if (!UsableBatch(b)) { return; }
        using var scope = torch.NewDisposeScope();
        using var own = workers is null ? GramWorkers.ForCallingThread() : null;
        var w = workers ?? own!;
        var ga = Grams(w, Side.Rows, rowBatch, _rows, overwrite, rowScales);
        var gb = Grams(w, Side.Columns, columnBatch, _columns, overwrite, columnScales);
        double[] cross = [];
        w.Run(1, (_, _) => cross = ga.Products(gb, b));
        AddProducts(cross, ga.SelfProducts(b), gb.SelfProducts(b), ga.Shifts, gb.Shifts);
        Finish(b);
    }

    /// <summary>Adds what another accumulator over other examples has seen.</summary>
    public void Merge(MinibatchCkaAccumulator other)
    {
        if (other._crossModel != _crossModel || !other._rows.SequenceEqual(_rows) || !other._columns.SequenceEqual(_columns)
            || other.Kernel != Kernel || other.RbfThreshold != RbfThreshold)
        {
            throw new RepscopeException("cannot merge CKA accumulators over different layers or kernels");
        }
        other.Rebase(_rowShift, _columnShift);
        for (int i = 0; i < _rows.Length; i++)
        {
            for (int j = 0; j < _columns.Length; j++) { _cross[i, j] += other._cross[i, j]; }
            _rowSelf[i] += other._rowSelf[i];
        }
        if (_crossModel)
        {
            for (int j = 0; j < _columns.Length; j++) { _columnSelf[j] += other._columnSelf[j]; }
        }
        if (KeepBatches)
        {
            if (!other.KeepBatches && other.Batches > 0)
            {
                throw new RepscopeException("cannot merge a CKA accumulator without per-batch state into one that keeps it (set KeepBatches on both)");
            }
            _batchCross.AddRange(other._batchCross);
            _batchRowSelf.AddRange(other._batchRowSelf);
            _batchColumnSelf.AddRange(other._batchColumnSelf);
        }
        Batches += other.Batches;
        Examples += other.Examples;
        DroppedRows += other.DroppedRows;
        _warnings.AddRange(other._warnings);
    }

    /// <summary>What the accumulator has summed so far (to store it, e.g. between jobs, and <see cref="Restore"/> it).</summary>
    public MinibatchCkaSums Sums() =>
        new((double[,])_cross.Clone(), (double[])_rowSelf.Clone(), (double[])_columnSelf.Clone(), Batches, Examples, DroppedRows, [.. _warnings])
        {
            RowShift = [.. _rowShift],
            ColumnShift = _crossModel ? [.. _columnShift] : [],
        };

    /// <summary>
    /// An accumulator holding <paramref name="sums"/> (from <see cref="Sums"/>): adding to it or merging it goes on from there.
    /// With <paramref name="batches"/> (from <see cref="BatchState"/> of the same accumulator, in the same layer scales) it keeps
    /// per-batch state too (<see cref="KeepBatches"/>).
    /// </summary>
    public static MinibatchCkaAccumulator Restore(IReadOnlyList<string> rows, IReadOnlyList<string> columns, bool crossModel,
                                                  KernelKind kernel, double rbfThreshold, MinibatchCkaSums sums, CkaBatchState? batches = null)
    {
        var a = new MinibatchCkaAccumulator(rows, columns, crossModel, kernel, rbfThreshold) { KeepBatches = batches is not null };
        if (batches is not null)
        {
            if (batches.Batches != sums.Batches || !batches.Rows.SequenceEqual(a._rows) || !batches.Columns.SequenceEqual(a._columns)
                || batches.Cross.Any(c => c.Length != a._rows.Length * a._columns.Length) || batches.RowSelf.Any(r => r.Length != a._rows.Length)
                || batches.ColumnSelf.Any(c => c.Length != a._columns.Length))
            {
                throw new RepscopeException($"per-batch CKA state of {batches.Batches} batches does not fit sums of {sums.Batches} batches over {a._rows.Length} x {a._columns.Length} layers");
            }
            a._batchCross.AddRange(batches.Cross.Select(c => (double[])c.Clone()));
            a._batchRowSelf.AddRange(batches.RowSelf.Select(r => (double[])r.Clone()));
            if (crossModel) { a._batchColumnSelf.AddRange(batches.ColumnSelf.Select(c => (double[])c.Clone())); }
        }
        if (sums.Cross.GetLength(0) != a._rows.Length || sums.Cross.GetLength(1) != a._columns.Length
            || sums.RowSelf.Length != a._rows.Length || sums.ColumnSelf.Length != a._columns.Length)
        {
            throw new RepscopeException($"CKA sums of shape {sums.Cross.GetLength(0)} x {sums.Cross.GetLength(1)} do not fit {a._rows.Length} x {a._columns.Length} layers");
        }
        if (sums.RowShift.Count != a._rows.Length || (crossModel && sums.ColumnShift.Count != a._columns.Length))
        {
            throw new RepscopeException($"CKA sums carry {sums.RowShift.Count} + {sums.ColumnShift.Count} layer scales for {a._rows.Length} x {a._columns.Length} layers");
        }
        for (int i = 0; i < a._rows.Length; i++) { a._rowShift[i] = sums.RowShift[i]; }
        if (crossModel) { for (int j = 0; j < a._columns.Length; j++) { a._columnShift[j] = sums.ColumnShift[j]; } }
        Array.Copy(sums.Cross, a._cross, sums.Cross.Length);
        Array.Copy(sums.RowSelf, a._rowSelf, sums.RowSelf.Length);
        if (crossModel) { Array.Copy(sums.ColumnSelf, a._columnSelf, sums.ColumnSelf.Length); }
        a.Batches = sums.Batches;
        a.Examples = sums.Examples;
        a.DroppedRows = sums.DroppedRows;
        a._warnings.AddRange(sums.Warnings);
        return a;
    }

    /// <summary>The CKA matrix; NaN where a layer was constant in every batch (or no batch was added).</summary>
    public CkaMatrix Result() => ToMatrix(_rows, _columns, _crossModel, _cross, _rowSelf, _columnSelf);

    /// <summary>
    /// The per-batch HSIC values kept so far (requires <see cref="KeepBatches"/>): a bootstrap over batches of
    /// examples (<see cref="CkaBatchState.Bootstrap"/>) and a file to re-bootstrap from later (<see cref="CkaBatchState.Save"/>).
    /// </summary>
    public CkaBatchState BatchState()
    {
        if (!KeepBatches) { throw new InvalidOperationException("this accumulator does not keep per-batch state: set KeepBatches"); }
        return new CkaBatchState(_rows, _columns, _crossModel, Kernel, RbfThreshold,
                                 _batchCross.ToArray(), _batchRowSelf.ToArray(), _crossModel ? _batchColumnSelf.ToArray() : _batchRowSelf.ToArray());
    }

    /// <summary>CKA from sums of HSIC1 over batches; a layer with itself within one model is 1 when defined.</summary>
    internal static CkaMatrix ToMatrix(string[] rows, string[] columns, bool crossModel, double[,] cross, double[] rowSelf, double[] columnSelf)
    {
        var v = new double[rows.Length, columns.Length];
        for (int i = 0; i < rows.Length; i++)
        {
            for (int j = 0; j < columns.Length; j++)
            {
                v[i, j] = !crossModel && i == j && rowSelf[i] > 0 ? 1.0 : LinearCka.Ratio(cross[i, j], rowSelf[i], columnSelf[j]);
            }
        }
        return new CkaMatrix(rows, columns, v);
    }

    private bool UsableBatch(long b)
    {
        if (b >= 4) { return true; }
        DroppedRows += b;
        _warnings.Add($"a batch of {b} row{(b == 1 ? "" : "s")} was left out: the unbiased HSIC needs at least 4 rows per batch");
        return false;
    }

    private void Finish(long b)
    {
        Batches++;
        Examples += b;
    }

    /// <summary>
    /// Expresses every stored value relative to the shifts <paramref name="rowShift"/> / <paramref name="columnShift"/>
    /// (exact: multiplications by powers of two); layers without a shift there adopt this accumulator's.
    /// </summary>
    private void Rebase(int?[] rowShift, int?[] columnShift)
    {
        int[] Delta(int?[] mine, int?[] target)
        {
            var d = new int[mine.Length];
            for (int i = 0; i < mine.Length; i++)
            {
                target[i] ??= mine[i];
                d[i] = (mine[i] ?? 0) - (target[i] ?? 0);
                mine[i] = target[i];
            }
            return d;
        }
        int[] dr = Delta(_rowShift, rowShift);
        int[] dc = _crossModel ? Delta(_columnShift, columnShift) : dr;
        if (dr.All(d => d == 0) && dc.All(d => d == 0)) { return; }
        int nc = _columns.Length;
        for (int i = 0; i < _rows.Length; i++)
        {
            for (int j = 0; j < nc; j++) { _cross[i, j] = Math.ScaleB(_cross[i, j], dr[i] + dc[j]); }
        }
        Scale(_rowSelf, dr);
        if (_crossModel) { Scale(_columnSelf, dc); }
        foreach (var batch in _batchCross)
        {
            for (int i = 0; i < _rows.Length; i++)
            {
                for (int j = 0; j < nc; j++) { batch[i * nc + j] = Math.ScaleB(batch[i * nc + j], dr[i] + dc[j]); }
            }
        }
        foreach (var batch in _batchRowSelf) { Scale(batch, dr); }
        if (_crossModel) { foreach (var batch in _batchColumnSelf) { Scale(batch, dc); } }
    }

    /// <summary>Self terms: a layer's shift counts twice.</summary>
    private static void Scale(double[] self, int[] shift)
    {
        for (int i = 0; i < self.Length; i++) { self[i] = Math.ScaleB(self[i], 2 * shift[i]); }
    }

    private void AddProducts(double[] c, double[]? rowSelf, double[]? columnSelf, int[] rowShifts, int[] columnShifts)
    {
        // This batch's values are relative to its own shifts: bring them to the accumulator's (fixed by the first batch).
        int[] Delta(int[] batch, int?[] fixedShift)
        {
            var d = new int[batch.Length];
            for (int i = 0; i < batch.Length; i++)
            {
                fixedShift[i] ??= batch[i];
                d[i] = batch[i] - fixedShift[i]!.Value;
            }
            return d;
        }
        int[] dr = Delta(rowShifts, _rowShift);
        int[] dc = _crossModel ? Delta(columnShifts, _columnShift) : dr;
        bool shifted = dr.Any(d => d != 0) || dc.Any(d => d != 0);
        if (shifted)
        {
            for (int i = 0; i < _rows.Length; i++)
            {
                for (int j = 0; j < _columns.Length; j++) { c[i * _columns.Length + j] = Math.ScaleB(c[i * _columns.Length + j], dr[i] + dc[j]); }
            }
        }
        int nc = _columns.Length;
        var batchRowSelf = _crossModel ? rowSelf! : new double[_rows.Length];
        if (_crossModel && shifted) { Scale(batchRowSelf, dr); }
        for (int i = 0; i < _rows.Length; i++)
        {
            for (int j = 0; j < nc; j++) { _cross[i, j] += c[i * nc + j]; }
            if (!_crossModel) { batchRowSelf[i] = c[i * nc + i]; }
        }
        AddTo(_rowSelf, batchRowSelf);
        double[]? batchColumnSelf = null;
        if (columnSelf is not null)
        {
            batchColumnSelf = columnSelf;
            if (shifted) { Scale(batchColumnSelf, dc); }
            AddTo(_columnSelf, batchColumnSelf);
        }
        if (KeepBatches)
        {
            _batchCross.Add(c);
            _batchRowSelf.Add(batchRowSelf);
            if (batchColumnSelf is not null) { _batchColumnSelf.Add(batchColumnSelf); }
        }
    }

    private static void AddTo(double[] sums, double[] v)
    {
        for (int i = 0; i < sums.Length; i++) { sums[i] += v[i]; }
    }

    private static long CheckBatch(IReadOnlyList<Tensor> batch, string[] names, long expectedRows)
    {
        if (batch.Count != names.Length)
        {
            throw new RepscopeException($"a batch has {batch.Count} layers, expected {names.Length} ({string.Join(", ", names.Take(5))}{(names.Length > 5 ? ", ..." : "")})");
        }
        long b = expectedRows;
        for (int i = 0; i < batch.Count; i++)
        {
            long rows = batch[i].dim() == 0 ? 1 : batch[i].shape[0];
            if (b < 0) { b = rows; }
            else if (rows != b) { throw new RepscopeException($"layer '{names[i]}' has {rows} rows in this batch, expected {b}"); }
        }
        return b;
    }

    private enum Side { Rows, Columns }

    /// <summary>How a linear Gram X X' is formed (internal so that the benchmark can compare them; the default is the fastest).</summary>
    internal enum GramMethod
    {
        /// <summary>BLAS's symmetric rank-k product (<see cref="Interop.MklSyrk"/>): one triangle, mirrored; half the multiplications.</summary>
        Syrk,
        /// <summary>With X = [X1; X2] (the batch's two halves of rows), X X1' and X2 X2' give the whole symmetric matrix for 3/4 of the multiplications.</summary>
        Blocks,
        /// <summary>One general product X X'.</summary>
        Full,
    }

    /// <summary>The method of linear Grams; <see cref="GramMethod.Syrk"/> falls back to blocks where MKL's syrk is not available.</summary>
    internal static GramMethod LinearGramMethod { get; set; } = GramMethod.Syrk;

    /// <summary>
    /// One batch's Grams of every layer in the form the unbiased HSIC needs (Song et al. 2012, the paper's Eq. 2), in
    /// buffers kept by the workers: <paramref name="K"/> [layers, b*b] float64, each layer's Gram with a zero diagonal,
    /// flattened (a zero row for a layer constant in the batch); <paramref name="R"/> [layers, b] their row sums;
    /// <paramref name="SelfDots"/> each row of K with itself; <paramref name="Shifts"/> each layer's power-of-two shift.
    /// </summary>
    private sealed record BatchGrams(Tensor K, Tensor R, double[] SelfDots, int[] Shifts)
    {
        /// <summary>
        /// [rows x columns] HSIC1 of every pair (row-major): (tr(K~L~) + (1'K~1)(1'L~1)/((b-1)(b-2)) - 2/(b-2) 1'K~L~1) / (b(b-3)),
        /// i.e. &lt;U(K), U(L)&gt; / (b(b-3)) with the U-centred Grams never formed: three matrix products, no pass over the Grams.
        /// </summary>
        public double[] Products(BatchGrams other, long b)
        {
            using var scope = torch.NewDisposeScope();
            var s = R.sum(-1);
            var os = ReferenceEquals(other, this) ? s : other.R.sum(-1);
            using Scalar sumsWeight = (1.0 / ((b - 1.0) * (b - 2.0))).ToScalar(), crossWeight = (-2.0 / (b - 2.0)).ToScalar(), divisor = (b * (b - 3.0)).ToScalar();
            return K.mm(other.K.t())
                    .add_(s.unsqueeze(1).mul(os.unsqueeze(0)), alpha: sumsWeight)
                    .add_(R.mm(other.R.t()), alpha: crossWeight)
                    .div_(divisor)
                    .data<double>().ToArray();
        }

        /// <summary>[layers] HSIC1 of each layer with itself (the diagonal of <see cref="Products"/> with itself).</summary>
        public double[] SelfProducts(long b)
        {
            double[] rows = R.data<double>().ToArray();
            long layers = R.shape[0];
            var v = new double[layers];
            for (int i = 0; i < layers; i++)
            {
                double total = 0, squares = 0;
                for (long j = 0; j < b; j++)
                {
                    double r = rows[i * b + j];
                    total += r;
                    squares += r * r;
                }
                v[i] = (SelfDots[i] + total * total / ((b - 1.0) * (b - 2.0)) - 2.0 / (b - 2.0) * squares) / (b * (b - 3.0));
            }
            return v;
        }
    }

    /// <summary>
    /// The <see cref="BatchGrams"/> of a batch, one job per layer on the workers (largest first): the scale, the column
    /// means, the centring (in place for a refillable buffer, else in a kept copy), the Gram product, the checks (non-finite
    /// values show up in the Gram, constancy in its trace), the zero diagonal and the row sums. No separate passes over the
    /// activations for the checks; nothing large is allocated.
    /// </summary>
    private BatchGrams Grams(GramWorkers w, Side side, IReadOnlyList<Tensor> batch, string[] names, bool overwrite, int[]? scales)
    {
        long b = batch[0].shape[0];
        int layers = batch.Count;
        string use = side == Side.Rows ? "rows" : "columns";
        var k = w.Buffer(-1, use + " K", ScalarType.Float64, layers * b * b).view(layers, b, b);
        var r = w.Buffer(-1, use + " R", ScalarType.Float64, layers * b).view(layers, b);
        var shifts = new int[layers];
        var selfDots = new double[layers];
        var order = Enumerable.Range(0, layers).OrderByDescending(i => batch[i].numel()).ThenBy(i => i).ToArray();
        w.Run(layers, (job, worker) =>
        {
            int i = order[job];
            using var ki = k[i];
            using var ri = r[i];
            shifts[i] = LayerGram(w, worker, batch[i], names[i], b, overwrite, scales?[i], ki, ri, out selfDots[i]);
        });
        return new BatchGrams(k.view(layers, b * b), r, selfDots, shifts);
    }

    /// <summary>One layer's Gram with a zero diagonal into <paramref name="k"/> [b, b] and its row sums into <paramref name="r"/>; returns its shift.</summary>
    private int LayerGram(GramWorkers w, int worker, Tensor input, string name, long b, bool overwrite, int? scale, Tensor k, Tensor r, out double selfDot)
    {
        var m = input.dim() == 2 ? input : input.reshape(b, -1);
        bool own = false;
        if (m.dtype != ScalarType.Float64 && m.dtype != ScalarType.Float32) { m = m.to_type(ScalarType.Float32); own = true; }
        var type = m.dtype;
        // A refillable buffer (or a converted copy) is centred in place; anything else in a kept per-worker copy.
        var c = own || (overwrite && m.is_contiguous()) ? m : w.Buffer(worker, "centred", type, m.numel()).view(m.shape).copy_(m);
        int e = own ? Gram.ScaleExponent(c) : scale ?? Gram.ScaleExponent(c);   // a converted copy: its own scale
        if (e != 0) { Gram.ScaleByPowerOfTwo(c, -e); }
        var mean = c.mean([0L], keepdim: true);
        c.sub_(mean);
        double meanSquares = mean.to_type(ScalarType.Float64).pow(TorchScalars.Two).sum().item<double>() * b;
        if (Kernel == KernelKind.Linear)
        {
            // The product's upper triangle, then in one pass: k mirrored with a zero diagonal, its row sums, its sum of
            // squares and the product's trace. Non-finite values (in the data, or from products too large for the
            // precision) show up in the Gram: in its trace when on the diagonal, in the sum of squares of the rest
            // otherwise (the data are at a safe scale, so finite values cannot overflow either). No separate pass.
            double trace = Gram.FinishLinearGram(LinearGram(w, worker, c, k), k, r, out selfDot);
            if (!double.IsFinite(trace) || !double.IsFinite(selfDot)) { throw NonFinite(name, type); }
            if (IsConstantBatch(trace, meanSquares, b, type)) { k.zero_(); r.zero_(); selfDot = 0; }
            return 2 * e;   // a linear Gram of data divided by 2^e is the true one / 2^(2e)
        }
        var dots = c.mm(c.t());
        CheckFinite(dots, name, type);
        if (IsConstantBatch(dots.trace().to_type(ScalarType.Float64).item<double>(), meanSquares, b, type)) { k.zero_(); }
        else { k.copy_(Gram.RbfOfDots(dots, RbfThreshold, $"layer '{name}'")); }
        k.diagonal().zero_();
        var flat = k.view(b * b);
        selfDot = flat.dot(flat).item<double>();
        r.copy_(k.sum(1));
        return 0;   // an RBF Gram does not depend on the scale
    }

    /// <summary>
    /// c c' (c: [b, p], centred) in c's precision, by <see cref="LinearGramMethod"/>; returns the [b, b] matrix whose upper
    /// triangle holds it (a worker's buffer, or the float64 <paramref name="k"/> [b, b] itself), for <see cref="Gram.FinishLinearGram"/>.
    /// </summary>
    private static Tensor LinearGram(GramWorkers w, int worker, Tensor c, Tensor k)
    {
        long b = c.shape[0], h = b / 2;
        var method = LinearGramMethod;
        if (method == GramMethod.Syrk && !(Interop.MklSyrk.Available && c.is_contiguous())) { method = GramMethod.Blocks; }
        if (method == GramMethod.Syrk)
        {
            // The upper triangle by syrk (FinishLinearGram mirrors it: exactly symmetric).
            var upper = w.Buffer(worker, "gram", c.dtype, b * b).view(b, b);
            Interop.MklSyrk.UpperTriangle(c, upper);
            return upper;
        }
        if (method == GramMethod.Full || h < 2)
        {
            var full = w.Buffer(worker, "gram", c.dtype, b * b).view(b, b);
            return full.addmm_(c, c.t(), beta: 0, alpha: 1);
        }
        // G = [[X1 X1', X1 X2'], [X2 X1', X2 X2']]: the first block column from one product, the last block from another,
        // the remaining block as the transpose of X2 X1' (so G is exactly symmetric).
        var left = w.Buffer(worker, "gram left", c.dtype, b * h).view(b, h);
        left.addmm_(c, c.narrow(0, 0, h).t(), beta: 0, alpha: 1);
        var c2 = c.narrow(0, h, b - h);
        var corner = w.Buffer(worker, "gram corner", c.dtype, (b - h) * (b - h)).view(b - h, b - h);
        corner.addmm_(c2, c2.t(), beta: 0, alpha: 1);
        k.narrow(1, 0, h).copy_(left);
        k.narrow(0, h, b - h).narrow(1, h, b - h).copy_(corner);
        k.narrow(0, 0, h).narrow(1, h, b - h).copy_(left.narrow(0, h, b - h).t());
        return k;
    }

    private static void CheckFinite(Tensor gram, string name, ScalarType type)
    {
        if (!torch.isfinite(gram).all().item<bool>()) { throw NonFinite(name, type); }
    }

    private static RepscopeException NonFinite(string name, ScalarType type) =>
        new($"layer '{name}': contains NaN or infinite values (or values too large for {(type == ScalarType.Float32 ? "float32" : "float64")} products)");

    /// <summary>
    /// A batch is constant when the centred activations are zero up to the rounding of the mean:
    /// ||X - mean||^2 &lt;= (b eps)^2 ||X||^2, with ||X||^2 = ||X - mean||^2 + b ||mean||^2.
    /// Variation below that is below the resolution of the number format.
    /// </summary>
    private static bool IsConstantBatch(double centredSquares, double meanSquares, long b, ScalarType type)
    {
        double eps = type == ScalarType.Float64 ? 2.220446049250313e-16 : 1.1920929e-7;
        double tolerance = b * eps;
        return centredSquares <= tolerance * tolerance * (centredSquares + meanSquares);
    }
}

/// <summary>
/// The running sums of a <see cref="MinibatchCkaAccumulator"/>: per pair of layers the sum over batches of
/// HSIC1(row, column), per layer the sum of HSIC1(layer, layer), and the counts.
/// </summary>
public sealed record MinibatchCkaSums(double[,] Cross, double[] RowSelf, double[] ColumnSelf, int Batches, long Examples, long DroppedRows,
                                      IReadOnlyList<string> Warnings)
{
    /// <summary>Each row layer's power-of-two scale the sums are stored in (null: no batch yet); the sums mean nothing without it.</summary>
    public IReadOnlyList<int?> RowShift { get; init; } = [];

    /// <summary>The same for the column layers of a cross-model accumulator (empty within one model: the rows' shifts).</summary>
    public IReadOnlyList<int?> ColumnShift { get; init; } = [];
}
