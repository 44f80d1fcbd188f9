using Repscope.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Spectral;

/// <summary>Settings of the streaming first-principal-component estimate.</summary>
/// <param name="Rank">Columns of the random test matrix (the sketch): 1 target + oversampling. When
/// it is at least the number of features or of examples, the result is exact up to rounding.</param>
/// <param name="PowerIterations">Extra passes of subspace iteration; each costs two passes over the
/// data and shrinks the error by a factor (sigma_{Rank+1} / sigma_1)^2.</param>
/// <param name="Seed">Seed of the random test matrix.</param>
public sealed record FirstComponentOptions(int Rank = 16, int PowerIterations = 1, long Seed = 0)
{
    public static readonly FirstComponentOptions Default = new();

    /// <summary>Passes over the data the estimate needs: 2 + 2 x power iterations.</summary>
    public int Passes => 2 + 2 * PowerIterations;
}

/// <summary>
/// The first principal component of one layer's representation X (n examples x p features),
/// centred over the examples.
/// </summary>
/// <param name="TotalVariance">||X - 1 mean^T||_F^2 (sum of squared deviations, not divided by n).</param>
/// <param name="Variance">sigma_1^2: the part of <see cref="TotalVariance"/> along the first component.</param>
/// <param name="Fraction">Variance / TotalVariance: the fraction of variance the first component explains (NaN for a constant representation).</param>
/// <param name="ExampleVector">u (length n, unit norm): the first left singular vector of the centred X, in example space.</param>
/// <param name="Direction">v (length p, unit norm): the first right singular vector, the direction in feature space. Sign: sum(v) &gt;= 0 (else the largest |v| entry positive).</param>
/// <param name="Mean">The mean over examples (length p).</param>
public sealed record FirstComponent(string Layer, long Examples, long Features, double TotalVariance, double Variance,
                                    double Fraction, double[] ExampleVector, float[] Direction, float[] Mean)
{
    /// <summary>Scores of the examples on the component: (X - mean) v = sigma_1 u.</summary>
    public double[] Scores() => ExampleVector.Select(x => x * Math.Sqrt(Variance)).ToArray();
}

/// <summary>
/// Streaming, memory-bounded estimate of one layer's first principal component by randomized
/// subspace iteration (Halko, Martinsson &amp; Tropp 2011, Alg. 4.4), batch by batch over several
/// passes that deliver the same rows in the same order. Memory: O(p x Rank) in the process; the n x Rank float64
/// sketch and basis (128 bytes per example at Rank 16) lie in an unlinked temporary file (<see cref="SketchRows"/>), read
/// a batch's rows at a time, and are in memory whole only while a pass ends (one layer at a time); never n x p.
/// <list type="number">
/// <item>Pass 1: mean and exact total variance (shifted sums in float64), and Y = Xc Omega with a
///   seeded Gaussian Omega (p x k); Q = orth(Y).</item>
/// <item>Each power iteration: B = Q^T Xc (one pass), Y = Xc B^T (one pass), Q = orth(Y).</item>
/// <item>Last pass: B = Q^T Xc; the SVD of the small k x p matrix B gives sigma_1, u = Q u_B, v.</item>
/// </list>
/// Use: <c>while (!acc.Done) { foreach (batch) acc.Add(batch); acc.EndPass(); }</c>, then <see cref="Result"/>.
/// </summary>
public sealed class FirstComponentAccumulator : IDisposable
{
    private readonly string _layer;
    private readonly FirstComponentOptions _options;
    private readonly long _sumColumns;
    private long _features = -1;
    private int _pass;
    private long _rowsThisPass;
    private long _examples = -1;

    // Pass 1 state.
    private Tensor? _shift;      // float32 [p]
    private Tensor? _sum;        // float64 [p] of (x - shift)
    private Tensor? _sumSquares; // float64 [p] of (x - shift)^2
    private Tensor? _omega;      // float32 [p, k]

    // The n-row state, outside the process (made at the first batch): during a pass that builds Y (float64 [n, k]), its rows
    // in order, row-major; from the pass's end until the next Y pass, Q (float64 [n, k'], orthonormal columns) in the
    // layout linalg.qr gave it (column-major: column j's n values at j x n). Y overwrites Q: no pass needs both.
    private readonly bool _spill;
    private SketchRows? _rows;
    private long _yColumns;
    private long _qColumns;      // k' (0: no Q)
    private bool _qByColumns;    // Q is stored column by column (linalg.qr's layout), else row by row
    private long[] _qStrides = [];   // Q's strides as linalg.qr made them

    // Later passes.
    private Tensor? _mean;       // float32 [p]
    private Tensor? _b;          // float64 [k', p]
    private double _totalVariance;
    private FirstComponent? _result;

    public FirstComponentAccumulator(string layer, FirstComponentOptions? options = null) : this(layer, options, SumColumns) { }

    /// <summary>With the first pass's sums taken <paramref name="sumColumns"/> columns at a time (tests: the slabs change no
    /// bit), the n-row state in a temporary file (<paramref name="spill"/>) or in memory (tests: the same bits).</summary>
    internal FirstComponentAccumulator(string layer, FirstComponentOptions? options, long sumColumns, bool spill = true)
    {
        if (sumColumns < 1) { throw new ArgumentOutOfRangeException(nameof(sumColumns), "must be at least 1"); }
        _sumColumns = sumColumns;
        _spill = spill;
        _layer = layer;
        _options = options ?? FirstComponentOptions.Default;
        if (_options.Rank < 1) { throw new ArgumentOutOfRangeException(nameof(options), "Rank must be at least 1"); }
        if (_options.PowerIterations < 0) { throw new ArgumentOutOfRangeException(nameof(options), "PowerIterations must be >= 0"); }
    }

    public string Layer => _layer;

    /// <summary>0-based index of the pass that <see cref="Add"/> feeds now.</summary>
    public int Pass => _pass;

    /// <summary>True when no more passes are needed (then <see cref="Result"/> is available).</summary>
    public bool Done => _result is not null;

    /// <summary>Adds the next rows (examples) of the current pass: a [b, ...] tensor, flattened to [b, p].</summary>
    public void Add(Tensor batch)
    {
        if (Done) { throw new InvalidOperationException($"layer '{_layer}': first component already computed"); }
        using var scope = torch.NewDisposeScope();
        var x = batch.detach().reshape(batch.shape[0], -1).to(ScalarType.Float32);
        long b = x.shape[0], p = x.shape[1];
        if (b == 0) { return; }
        TakeFeatures(p);
        if (_pass == 0) { AddFirstPass(x); }
        else
        {
            if (_rowsThisPass + b > _examples)
            {
                throw new RepscopeException($"layer '{_layer}': pass {_pass + 1} delivered more than the {_examples} examples of pass 1");
            }
            var xc = x - _mean!;
            if (IsBPass)
            {
                PrepareBPass();
                var qb = QRows(_rowsThisPass, b).to(ScalarType.Float32);
                _b!.add_(qb.t().matmul(xc).to(ScalarType.Float64), TorchScalars.One);
            }
            else
            {
                var bt = _b!.to(ScalarType.Float32).t();
                AddChunk(xc.matmul(bt).to(ScalarType.Float64));
            }
        }
        _rowsThisPass += b;
    }

    /// <summary>Columns per slab of the first pass's float64 sums (a [b, 1024] float64 copy: 2 MB at b = 256).</summary>
    internal const long SumColumns = 1024;

    // Passes 1, 3, 5, ... accumulate B = Q^T Xc; passes 2, 4, ... accumulate Y = Xc B^T.
    private bool IsBPass => _pass % 2 == 1;

    /// <summary>
    /// Makes the first pass's state (shift, sums, Omega: about 70 bytes per feature) from the pass's first batch, before
    /// <see cref="Add"/> takes it. <see cref="FirstComponents.AddBatch"/> does this for every layer before any layer's
    /// batch work, so that the states of all layers lie side by side in the C heap instead of one between each layer's
    /// temporaries (which left holes just too small for the next batch's temporaries). Does nothing after that.
    /// </summary>
    internal void PrepareFirstPass(Tensor batch)
    {
        if (Done || _pass != 0 || _shift is not null) { return; }
        using var scope = torch.NewDisposeScope();
        var x = batch.detach().reshape(batch.shape[0], -1).to(ScalarType.Float32);
        if (x.shape[0] == 0) { return; }
        TakeFeatures(x.shape[1]);
        _shift = x.mean([0L]).detach().DetachFromDisposeScope();
        _sum = torch.zeros(_features, ScalarType.Float64).DetachFromDisposeScope();
        _sumSquares = torch.zeros(_features, ScalarType.Float64).DetachFromDisposeScope();
        int k = (int)Math.Min(_options.Rank, _features);
        var gen = new torch.Generator((ulong)_options.Seed);
        _omega = torch.randn([_features, k], ScalarType.Float32, generator: gen).DetachFromDisposeScope();
    }

    /// <summary>The first batch fixes the number of features; every later batch must have as many.</summary>
    private void TakeFeatures(long p)
    {
        if (_features < 0) { _features = p; }
        else if (p != _features)
        {
            throw new RepscopeException($"layer '{_layer}': batch has {p} features, earlier batches had {_features}");
        }
    }

    private void AddFirstPass(Tensor x)
    {
        if (_shift is null) { PrepareFirstPass(x); }
        var d = x - _shift!;
        // The float64 sums over examples, a slab of columns at a time: libtorch converts a float32 tensor to float64 before
        // summing it in float64, which for the whole [b, p] made two float64 copies (twice the tap's own size) per tap and
        // batch. Each column's sum is the same reduction over the same b values either way, so the bits do not change.
        for (long c = 0; c < _features; c += _sumColumns)
        {
            using var slabScope = torch.NewDisposeScope();
            var slab = d.narrow(1, c, Math.Min(_sumColumns, _features - c));
            _sum!.narrow(0, c, slab.shape[1]).add_(slab.sum([0L], type: ScalarType.Float64), TorchScalars.One);
            _sumSquares!.narrow(0, c, slab.shape[1]).add_(slab.pow(TorchScalars.Two).sum([0L], type: ScalarType.Float64), TorchScalars.One);
        }
        AddChunk(d.matmul(_omega!).to(ScalarType.Float64));
    }

    /// <summary>Rows [<see cref="_rowsThisPass"/>, + b) of this pass's Y, float64 [b, k].</summary>
    private void AddChunk(Tensor y)
    {
        _yColumns = y.shape[1];
        _rows ??= _spill ? SketchRows.TemporaryFile() : SketchRows.InMemory();
        using var rows = y.contiguous();
        _rows.Write(_rowsThisPass * _yColumns * sizeof(double), rows);
    }

    /// <summary>This pass's Y as one float64 [rows, k] tensor (row-major), in order.</summary>
    private Tensor Chunks()
    {
        if (_rows is null || _rowsThisPass == 0) { return torch.zeros([0, 0], ScalarType.Float64); }
        var all = torch.empty([_rowsThisPass, _yColumns], ScalarType.Float64);
        _rows.Read(0, all);
        return all;
    }

    /// <summary>
    /// Rows [<paramref name="first"/>, + <paramref name="count"/>) of Q, float64 [count, k'], in the layout that narrowing the
    /// whole Q to them and converting (<c>q.narrow(0, first, count).to(Float32)</c>) gives: column-major when Q is, so that
    /// the products with them take the same path, and the same bits, as with Q held in memory.
    /// </summary>
    private Tensor QRows(long first, long count)
    {
        if (!_qByColumns)
        {
            // Row-major storage: Q's own strides (for one column linalg.qr gives [n, 1] with strides (1, n), which a
            // narrow keeps; a product reads the stride of a dimension of size 1 when it chooses its path).
            var rows = torch.empty_strided([count, _qColumns], _qStrides, ScalarType.Float64);
            _rows!.Read(first * _qColumns * sizeof(double), rows);
            return rows;
        }
        var columns = torch.empty([_qColumns, count], ScalarType.Float64);
        for (long j = 0; j < _qColumns; j++)
        {
            using var column = columns[j];
            _rows!.Read((j * _examples + first) * sizeof(double), column);
        }
        return columns.t();
    }

    /// <summary>Ends the current pass; every pass must deliver the same examples in the same order.</summary>
    public void EndPass()
    {
        if (Done) { throw new InvalidOperationException($"layer '{_layer}': first component already computed"); }
        using var scope = torch.NewDisposeScope();
        if (_pass == 0)
        {
            _examples = _rowsThisPass;
            if (_examples < 2)
            {
                throw new UndefinedResultException($"layer '{_layer}': the first principal component needs at least 2 examples, got {_examples}");
            }
            using var examples = _examples.ToScalar();
            var meanShift = _sum!.div(examples);
            _totalVariance = (_sumSquares! - _sum! * meanShift).sum().item<double>();
            _totalVariance = Math.Max(_totalVariance, 0);
            _mean = _shift!.add(meanShift.to(ScalarType.Float32), TorchScalars.One).DetachFromDisposeScope();
            // Y = (X - shift) Omega - 1 (mean - shift)^T Omega = Xc Omega.
            var y = Chunks() - meanShift.to(ScalarType.Float32).matmul(_omega!).to(ScalarType.Float64).unsqueeze(0);
            _omega!.Dispose(); _omega = null;
            _shift!.Dispose(); _shift = null;
            _sum!.Dispose(); _sum = null;
            _sumSquares!.Dispose(); _sumSquares = null;
            if (_totalVariance == 0 || !double.IsFinite(_totalVariance))
            {
                _result = new FirstComponent(_layer, _examples, _features, _totalVariance, 0, double.NaN,
                                             new double[_examples], new float[_features], _mean.data<float>().ToArray());
                _rows?.Dispose(); _rows = null;
                return;
            }
            SetQ(y);
        }
        else
        {
            if (_rowsThisPass != _examples)
            {
                throw new RepscopeException($"layer '{_layer}': pass {_pass + 1} delivered {_rowsThisPass} examples, pass 1 had {_examples}");
            }
            if (IsBPass)
            {
                if (_pass == _options.Passes - 1) { Finish(); }
            }
            else
            {
                SetQ(Chunks());
            }
        }
        _pass++;
        _rowsThisPass = 0;
        if (!Done && IsBPass)
        {
            // The B pass starts afresh (PrepareBPass); a Y pass keeps the B of the pass before.
            _b?.Dispose();
            _b = null;
        }
    }

    /// <summary>
    /// Makes the zeroed B (float64 [k', p]) that a B pass accumulates into, when the pass that starts needs one and it is not
    /// made yet. <see cref="FirstComponents.EndPass"/> calls it for every layer after every layer's end-of-pass work, so
    /// that the Bs lie side by side in the C heap, not each between the temporaries of the next layer's QR.
    /// </summary>
    internal void PrepareBPass()
    {
        if (Done || !IsBPass || _b is not null) { return; }
        _b = torch.zeros([_qColumns, _features], ScalarType.Float64);
        _b.DetachFromDisposeScope();
    }

    /// <summary>Q = orth(Y), written over Y (<paramref name="y"/> has been read whole).</summary>
    private void SetQ(Tensor y)
    {
        var (q, _) = torch.linalg.qr(y);
        _qColumns = q.shape[1];
        // linalg.qr gives Q column-major (LAPACK's layout); its storage is written as it lies, so that QRows can rebuild the
        // same strides. Another layout (not seen) is made row-major first: a copy, the same values.
        _qByColumns = !q.is_contiguous() && q.t().is_contiguous();
        using var storage = _qByColumns ? q.t() : q.contiguous();
        _qStrides = _qByColumns || q.is_contiguous() ? q.stride() : storage.stride();
        _rows!.Write(0, storage);
    }

    private void Finish()
    {
        var (ub, s, vh) = torch.linalg.svd(_b!, fullMatrices: false);
        double sigma1 = s[0].item<double>();
        var u = QRows(0, _examples).matmul(ub[.., 0]);
        var v = vh[0];
        // Sign convention (u sums to 0, so it cannot decide): sum(v) >= 0, i.e. the component points
        // where activations grow on average; if that sum is ~0, the largest |v| entry is positive.
        double sum = v.sum().item<double>();
        double sign = Math.Abs(sum) > 1e-6 ? Math.Sign(sum) : Math.Sign(v[v.abs().argmax()].item<double>());
        if (sign == 0) { sign = 1; }
        double variance = Math.Min(sigma1 * sigma1, _totalVariance);
        using var signScalar = sign.ToScalar();
        _result = new FirstComponent(_layer, _examples, _features, _totalVariance, variance, variance / _totalVariance,
                                     u.mul(signScalar).data<double>().ToArray(), v.mul(signScalar).to(ScalarType.Float32).data<float>().ToArray(),
                                     _mean!.data<float>().ToArray());
        _b!.Dispose(); _b = null;
        _rows?.Dispose(); _rows = null;
    }

    public FirstComponent Result() =>
        _result ?? throw new InvalidOperationException($"layer '{_layer}': first component needs {_options.Passes} passes, {_pass} done");

    public void Dispose()
    {
        _rows?.Dispose();
        _rows = null;
        foreach (var t in new[] { _shift, _sum, _sumSquares, _omega, _mean, _b }) { t?.Dispose(); }
    }
}
