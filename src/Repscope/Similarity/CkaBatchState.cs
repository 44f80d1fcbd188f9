using System.Text;
using Repscope.Interop;

namespace Repscope.Similarity;

/// <summary>
/// The unbiased HSIC values of every minibatch behind a minibatch CKA map (Nguyen et al. 2021, Eq. 3), kept by
/// <see cref="MinibatchCkaAccumulator"/> with <see cref="MinibatchCkaAccumulator.KeepBatches"/>. Since minibatch
/// CKA is mean_b HSIC_xy / sqrt(mean_b HSIC_xx mean_b HSIC_yy) over k batches of test examples, resampling the k
/// batches with replacement gives a bootstrap replicate of the whole map for the price of a few sums: a bootstrap
/// over test examples, in blocks of one batch. <see cref="Save"/> / <see cref="Load"/> keep it beside a cached
/// analysis so it can be re-bootstrapped later.
/// </summary>
/// <param name="Rows">Row layers.</param>
/// <param name="Columns">Column layers (the same as the rows within one model).</param>
/// <param name="IsCrossModel">Two models (rows: the first, columns: the second) or one.</param>
/// <param name="Kernel">The kernel of the CKA.</param>
/// <param name="RbfThreshold">The RBF bandwidth factor (meaningful for the RBF kernel only).</param>
/// <param name="Cross">Per batch: HSIC1(row i, column j) at [i * columns + j].</param>
/// <param name="RowSelf">Per batch: HSIC1(row i, row i).</param>
/// <param name="ColumnSelf">Per batch: HSIC1(column j, column j) (the same arrays as <paramref name="RowSelf"/> within one model).</param>
public sealed record CkaBatchState(IReadOnlyList<string> Rows, IReadOnlyList<string> Columns, bool IsCrossModel, KernelKind Kernel,
                                   double RbfThreshold, double[][] Cross, double[][] RowSelf, double[][] ColumnSelf)
{
    /// <summary>Number of batches kept.</summary>
    public int Batches => Cross.Length;

    /// <summary>
    /// The CKA map from the given batches (with repetition; null: every batch once, in order, which gives the
    /// accumulator's own <see cref="MinibatchCkaAccumulator.Result"/> to the last bit when nothing was merged).
    /// </summary>
    public CkaMatrix Result(IReadOnlyList<int>? batches = null)
    {
        int nr = Rows.Count, nc = Columns.Count;
        var cross = new double[nr, nc];
        var rowSelf = new double[nr];
        var columnSelf = IsCrossModel ? new double[nc] : rowSelf;
        int count = batches?.Count ?? Batches;
        for (int k = 0; k < count; k++)
        {
            int b = batches is null ? k : batches[k];
            if (b < 0 || b >= Batches) { throw new ArgumentOutOfRangeException(nameof(batches), b, $"batch index outside 0..{Batches - 1}"); }
            var c = Cross[b];
            for (int i = 0; i < nr; i++)
            {
                for (int j = 0; j < nc; j++) { cross[i, j] += c[i * nc + j]; }
                rowSelf[i] += RowSelf[b][i];
            }
            if (IsCrossModel) { for (int j = 0; j < nc; j++) { columnSelf[j] += ColumnSelf[b][j]; } }
        }
        return MinibatchCkaAccumulator.ToMatrix(Rows.ToArray(), Columns.ToArray(), IsCrossModel, cross, rowSelf, columnSelf);
    }

    /// <summary>
    /// <paramref name="replicates"/> bootstrap replicates of the CKA map: replicate r resamples the batches with
    /// replacement from stream r of <paramref name="seed"/> (<see cref="SeededRandom.ForStream"/>), so the maps are the
    /// same whatever <paramref name="threads"/> is. Needs at least 2 batches.
    /// </summary>
    public IReadOnlyList<CkaMatrix> Bootstrap(int replicates, ulong seed, int? threads = null)
    {
        CheckBootstrap(replicates);
        var maps = new CkaMatrix[replicates];
        Parallel.For(0, replicates, new ParallelOptions { MaxDegreeOfParallelism = threads ?? -1 }, r => maps[r] = Result(ReplicateBatches(Batches, seed, r)));
        return maps;
    }

    /// <summary>Throws unless a bootstrap of <paramref name="replicates"/> replicates over this state's batches is possible (2 batches or more).</summary>
    public void CheckBootstrap(int replicates)
    {
        if (Batches < 2) { throw new RepscopeException($"bootstrap over batches: needs at least 2 batches of examples, got {Batches}"); }
        if (replicates < 1) { throw new RepscopeException($"bootstrap over batches: needs at least 1 replicate, got {replicates}"); }
    }

    /// <summary>The batches bootstrap replicate <paramref name="replicate"/> draws (with replacement, as many as there are):
    /// stream <paramref name="replicate"/> of <paramref name="seed"/>. <see cref="Bootstrap"/> and callers that score each
    /// replicate as it is made share it.</summary>
    public static int[] ReplicateBatches(int batches, ulong seed, int replicate)
    {
        var rng = SeededRandom.ForStream(seed, replicate);
        var draw = new int[batches];
        for (int k = 0; k < draw.Length; k++) { draw[k] = rng.Next(batches); }
        return draw;
    }

    /// <summary>
    /// Writes the state as an .npz (atomically): "cross" float64 [k, rows, columns], "rowSelf" [k, rows],
    /// "columnSelf" [k, columns], "rows" / "columns" uint8 (the layer names in UTF-8, one per line),
    /// "settings" float64 [crossModel 0/1, kernel (0 linear, 1 rbf), rbfThreshold]. numpy reads it with np.load.
    /// </summary>
    public void Save(string path)
    {
        int k = Batches, nr = Rows.Count, nc = Columns.Count;
        Npz.Write(path,
        [
            NdArray.FromFloat64("cross", Cross.SelectMany(c => c).ToArray(), k, nr, nc),
            NdArray.FromFloat64("rowSelf", RowSelf.SelectMany(c => c).ToArray(), k, nr),
            NdArray.FromFloat64("columnSelf", ColumnSelf.SelectMany(c => c).ToArray(), k, nc),
            NdArray.FromUInt8("rows", Encoding.UTF8.GetBytes(string.Join('\n', Rows))),
            NdArray.FromUInt8("columns", Encoding.UTF8.GetBytes(string.Join('\n', Columns))),
            NdArray.FromFloat64("settings", [IsCrossModel ? 1 : 0, Kernel == KernelKind.Linear ? 0 : 1, RbfThreshold]),
        ]);
    }

    /// <summary>Reads a state written by <see cref="Save"/>; a RepscopeException names the file and what is wrong.</summary>
    public static CkaBatchState Load(string path)
    {
        var arrays = Npz.Read(path).ToDictionary(a => a.Name);
        NdArray Get(string name) => arrays.TryGetValue(name, out var a) ? a
            : throw new RepscopeException($"{path}: not a CKA batch state (no '{name}' array)");
        string[] Names(string name)
        {
            var a = Get(name);
            if (a.DType != NpyDType.UInt8) { throw new RepscopeException($"{path}: '{name}' holds {a.DType.NumpyName()}, expected uint8 (UTF-8 layer names)"); }
            return Encoding.UTF8.GetString(a.AsSpan<byte>()).Split('\n');
        }
        var rows = Names("rows");
        var columns = Names("columns");
        var settings = Get("settings").ToFloat64();
        if (settings.Length != 3) { throw new RepscopeException($"{path}: 'settings' has {settings.Length} values, expected 3"); }
        var cross = Get("cross");
        var rowSelf = Get("rowSelf");
        var columnSelf = Get("columnSelf");
        long k = cross.Rank == 3 ? cross.Shape[0] : -1;
        if (cross.Rank != 3 || cross.Shape[1] != rows.Length || cross.Shape[2] != columns.Length
            || rowSelf.Length != k * rows.Length || columnSelf.Length != k * columns.Length)
        {
            throw new RepscopeException($"{path}: array shapes do not fit {rows.Length} rows and {columns.Length} columns "
                                        + $"(cross {NdArray.ShapeText(cross.Shape)}, rowSelf {NdArray.ShapeText(rowSelf.Shape)}, columnSelf {NdArray.ShapeText(columnSelf.Shape)})");
        }
        bool crossModel = settings[0] != 0;
        var rs = Split(rowSelf.ToFloat64(), (int)k, rows.Length);
        return new CkaBatchState(rows, columns, crossModel, settings[1] == 0 ? KernelKind.Linear : KernelKind.Rbf, settings[2],
                                 Split(cross.ToFloat64(), (int)k, rows.Length * columns.Length), rs,
                                 crossModel ? Split(columnSelf.ToFloat64(), (int)k, columns.Length) : rs);
    }

    private static double[][] Split(double[] flat, int k, int size) =>
        Enumerable.Range(0, k).Select(b => flat.AsSpan(b * size, size).ToArray()).ToArray();
}
