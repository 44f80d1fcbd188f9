using Repscope.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Similarity;

/// <summary>What <see cref="CkaFiles.Pair"/> computes: CKA of two activation matrices stored as .npy.</summary>
/// <param name="BatchSize">Rows per minibatch; null: the rule of <see cref="CkaPlan.Choose"/>.</param>
/// <param name="Estimator">Null: biased on whole data, unbiased in minibatches.</param>
/// <param name="ShuffleSeed">Seed of the row order of minibatches; null: file order.</param>
public sealed record CkaPairRequest(string X, string Y, KernelKind Kernel = KernelKind.Linear, HsicEstimator? Estimator = null,
                                    double RbfThreshold = 0.5, int? BatchSize = null, long? ShuffleSeed = CkaPlan.DefaultShuffleSeed);

/// <summary>The answer of <see cref="CkaFiles.Pair"/>: <see cref="Cka"/> is NaN (null in JSON) when undefined, with <see cref="Error"/> saying why.</summary>
public sealed record CkaPairResult(double Cka, KernelKind Kernel, HsicEstimator Estimator, double? RbfThreshold, long N,
                                   int? BatchSize, int Batches, long DroppedRows, IReadOnlyList<string> Warnings, string? Error,
                                   CkaPlan? Plan = null);

/// <summary>What <see cref="CkaFiles.Heatmap"/> computes: all-pairs CKA of the arrays of one .npz, or between two.</summary>
/// <param name="Layers">Names or glob patterns (*, ?) of the arrays to use, in archive order; null: every array except 1-D integer ones (labels, indices).</param>
/// <param name="MaxNpzBytes">Limit on the total decompressed size of each .npz (<see cref="Npz.DefaultMaxTotalBytes"/>).</param>
public sealed record CkaHeatmapRequest(string A, string? B, int? BatchSize = null, HsicEstimator? Estimator = null,
                                       KernelKind Kernel = KernelKind.Linear, double RbfThreshold = 0.5,
                                       long? ShuffleSeed = CkaPlan.DefaultShuffleSeed, IReadOnlyList<string>? Layers = null,
                                       long MaxNpzBytes = Npz.DefaultMaxTotalBytes);

public sealed record CkaHeatmapResult(CkaMatrix Matrix, long N, int Batches, long DroppedRows, IReadOnlyList<string> Warnings, string Description,
                                      CkaPlan? Plan = null, IReadOnlyList<string>? Notes = null)
{
    /// <summary>The input files with their SHA-256 when the computation took them on the way (null: not yet taken).</summary>
    public IReadOnlyList<InputFile>? Inputs { get; init; }
}

/// <summary>
/// CKA of activations that users made anywhere (numpy .npy / .npz files, rows = examples). Loads
/// each array once as a tensor (float64 stays float64, everything else becomes float32), one array
/// at a time so that memory peaks at the inputs plus one array, checks everything before computing.
/// </summary>
public static class CkaFiles
{
    /// <summary>CKA of two .npy files.</summary>
    public static CkaPairResult Pair(CkaPairRequest r, IProgressReporter? progress = null)
    {
        if (ManagedPair(r) is { } small) { return small; }
        if (StreamedPair(r, progress) is { } streamed) { return streamed; }
        var x = LoadNpy(r.X);
        var y = LoadNpy(r.Y);
        try
        {
            CheckRows(x.Data, r.X, y.Data, r.Y);
            double? threshold = r.Kernel == KernelKind.Rbf ? r.RbfThreshold : null;
            long n = x.Data.shape[0];
            var plan = CkaPlan.Choose(n, r.BatchSize, r.Estimator, r.ShuffleSeed);
            var warnings = new List<string>();
            if (plan.Batches is { } batches)
            {
                if (batches.ShuffleSeed is null && LooksSorted(x.Data)) { warnings.Add(SortedWarning(r.X)); }
                else if (batches.ShuffleSeed is null && LooksSorted(y.Data)) { warnings.Add(SortedWarning(r.Y)); }
                try
                {
                    var mb = Cka.MinibatchDetailed(x.Data, y.Data, batches, r.Kernel, r.RbfThreshold, r.X, r.Y, progress);
                    return new CkaPairResult(mb.Value, r.Kernel, HsicEstimator.Unbiased, threshold, n, batches.BatchSize, mb.Batches, mb.DroppedRows, [.. warnings, .. mb.Warnings], null, plan);
                }
                catch (UndefinedResultException e)
                {
                    return new CkaPairResult(double.NaN, r.Kernel, HsicEstimator.Unbiased, threshold, n, batches.BatchSize, 0, 0, warnings, e.Message, plan);
                }
            }
            try
            {
                double v = Cka.Compute(x.Data, y.Data, new CkaOptions(r.Kernel, plan.Estimator, r.RbfThreshold), r.X, r.Y);
                return new CkaPairResult(v, r.Kernel, plan.Estimator, threshold, n, null, 1, 0, [], null, plan);
            }
            catch (UndefinedResultException e)
            {
                return new CkaPairResult(double.NaN, r.Kernel, plan.Estimator, threshold, n, null, 0, 0, [], e.Message, plan);
            }
        }
        finally
        {
            x.Data.Dispose();
            y.Data.Dispose();
        }
    }

    /// <summary>
    /// Whole-data linear CKA (biased HSIC) of two .npy files small enough for <see cref="ManagedLinearCka"/>, without
    /// loading libtorch; null when the request or the files call for libtorch (the other paths give any error message).
    /// </summary>
    private static CkaPairResult? ManagedPair(CkaPairRequest r)
    {
        if (r.Kernel != KernelKind.Linear || r.BatchSize is not null || r.Estimator == HsicEstimator.Unbiased) { return null; }
        var xi = Npy.ReadInfo(r.X);
        var yi = Npy.ReadInfo(r.Y);
        if (xi.Shape.Length == 0 || yi.Shape.Length == 0 || xi.Rows != yi.Rows
            || !ManagedLinearCka.Fits(xi.Rows, xi.FeaturesPerRow, yi.FeaturesPerRow)) { return null; }
        var plan = CkaPlan.Choose(xi.Rows, null, r.Estimator, r.ShuffleSeed);
        if (plan is not { Batches: null, Estimator: HsicEstimator.Biased }) { return null; }
        var x = Npy.Read(r.X);
        CheckLayer(x, r.X);
        var y = Npy.Read(r.Y);
        CheckLayer(y, r.Y);
        try
        {
            double v = ManagedLinearCka.Compute(x.ToFloat64(), x.FeaturesPerRow, y.ToFloat64(), y.FeaturesPerRow, r.X, r.Y);
            return new CkaPairResult(v, r.Kernel, plan.Estimator, null, x.Rows, null, 1, 0, [], null, plan);
        }
        catch (UndefinedResultException e)
        {
            return new CkaPairResult(double.NaN, r.Kernel, plan.Estimator, null, x.Rows, null, 0, 0, [], e.Message, plan);
        }
    }

    /// <summary>
    /// Minibatch CKA of two float .npy files read a batch at a time (memory: two batches of each, not the files);
    /// null when the plan is whole data or a file has another layout (then both are loaded).
    /// </summary>
    private static CkaPairResult? StreamedPair(CkaPairRequest r, IProgressReporter? progress)
    {
        var x = StoredArray.OfNpy(r.X);
        var y = x is null ? null : StoredArray.OfNpy(r.Y);
        if (x is null || y is null || x.Rows < 2 || y.Rows < 2) { return null; }
        if (x.Rows != y.Rows)
        {
            throw new RepscopeException($"{r.Y} has {y.Rows} examples (rows) but {r.X} has {x.Rows}; CKA needs the same examples in the same order");
        }
        var plan = CkaPlan.Choose(x.Rows, r.BatchSize, r.Estimator, r.ShuffleSeed);
        if (plan.Batches is not { } batches) { return null; }
        double? threshold = r.Kernel == KernelKind.Rbf ? r.RbfThreshold : null;
        var warnings = new List<string>();
        if (batches.ShuffleSeed is null && LooksSorted(x)) { warnings.Add(SortedWarning(r.X)); }
        else if (batches.ShuffleSeed is null && LooksSorted(y)) { warnings.Add(SortedWarning(r.Y)); }
        var m = AllPairsCka.Minibatch([x], [y], batches, r.Kernel, r.RbfThreshold, progress, out var acc);
        if (!double.IsNaN(m[0, 0]))
        {
            return new CkaPairResult(m[0, 0], r.Kernel, HsicEstimator.Unbiased, threshold, x.Rows, batches.BatchSize, acc.Batches, acc.DroppedRows,
                                     [.. warnings, .. acc.Warnings], null, plan);
        }
        var sums = acc.Sums();
        string which = !(sums.RowSelf[0] > 0) ? r.X : !(sums.ColumnSelf[0] > 0) ? r.Y : $"{r.X} or {r.Y}";
        return new CkaPairResult(double.NaN, r.Kernel, HsicEstimator.Unbiased, threshold, x.Rows, batches.BatchSize, 0, 0, warnings,
                                 acc.Batches == 0
                                     ? $"{r.X}: {x.Rows} rows; minibatch CKA needs at least one batch of 4 or more rows"
                                     : $"{which}: constant representation within every minibatch (zero variance): CKA is undefined", plan);
    }

    /// <summary>All-pairs CKA of the arrays in one .npz (or between two), minibatch (unbiased) or whole data, by the rule of <see cref="CkaPlan.Choose"/>.</summary>
    public static CkaHeatmapResult Heatmap(CkaHeatmapRequest r, IProgressReporter? progress = null)
    {
        progress ??= ProgressReporter.None;
        NativeHeap.ReturnLargeBlocksToTheSystem();
        if (r.BatchSize is int bs && bs < 4) { CkaPlan.Choose(4, bs, r.Estimator, null); }   // bad settings fail before any file is read
        new CkaOptions(r.Kernel, r.Estimator ?? HsicEstimator.Biased, r.RbfThreshold).Validate();
        var notes = new List<string>();
        var warnings = new List<string>();
        if (Streamed(r, notes, warnings, progress) is { } streamed) { return streamed; }
        notes.Clear();
        warnings.Clear();
        var a = LoadNpz(r.A, r.Layers, notes, warnings, r.MaxNpzBytes);
        IReadOnlyList<Layer>? b = null;
        try
        {
            b = r.B is null ? null : LoadNpz(r.B, r.Layers, notes, warnings, r.MaxNpzBytes);
            long n = a[0].Data.shape[0];
            if (b is not null && b[0].Data.shape[0] != n)
            {
                throw new RepscopeException($"{r.B} has {b[0].Data.shape[0]} examples (rows) per array but {r.A} has {n}; CKA needs the same examples in the same order");
            }
            var plan = CkaPlan.Choose(n, r.BatchSize, r.Estimator, r.ShuffleSeed);
            var rows = a.Select(l => l.Data).ToArray();
            var rowNames = a.Select(l => l.Name).ToArray();
            var cols = b?.Select(l => l.Data).ToArray();
            var colNames = b?.Select(l => l.Name).ToArray();
            if (plan.Batches is not { } batches)
            {
                if (plan.Estimator == HsicEstimator.Unbiased && n < 4) { throw new UndefinedResultException($"{r.A}: {n} rows; the unbiased HSIC needs at least 4"); }
                var m = AllPairsCka.WholeData(rows, rowNames, cols, colNames, new CkaOptions(r.Kernel, plan.Estimator, r.RbfThreshold), progress);
                return new CkaHeatmapResult(m, n, 1, 0, warnings, Description(r.Kernel, r.RbfThreshold, plan, n), plan, notes);
            }
            if (n < 4) { throw new UndefinedResultException($"{r.A}: {n} rows; the unbiased HSIC needs at least 4"); }
            if (batches.ShuffleSeed is null && LooksSorted(rows[0])) { warnings.Add(SortedWarning(r.A)); }
            var mb = AllPairsCka.Minibatch(rows, rowNames, cols, colNames, batches, r.Kernel, r.RbfThreshold, progress, out var acc);
            return new CkaHeatmapResult(mb, n, acc.Batches, acc.DroppedRows, [.. warnings, .. acc.Warnings],
                Description(r.Kernel, r.RbfThreshold, plan, n), plan, notes);
        }
        finally
        {
            foreach (var l in a) { l.Data.Dispose(); }
            foreach (var l in b ?? []) { l.Data.Dispose(); }
        }
    }

    /// <summary>
    /// The minibatch map of .npz members, read a batch at a time straight from the files (memory: two batches of every
    /// layer, not the arrays) while another thread checks the stored members' CRC-32 and takes the files' SHA-256; a
    /// deflated member (np.savez_compressed) is first inflated once into an unlinked temporary file (its CRC-32 checked on
    /// the way; <see cref="StoredArray.Inflate"/>). Null when the request is for whole data or an array is of another
    /// layout (then everything is loaded first).
    /// </summary>
    private static CkaHeatmapResult? Streamed(CkaHeatmapRequest r, List<string> notes, List<string> warnings, IProgressReporter progress)
    {
        if (StoredPair(r, notes, warnings) is not { } pair) { return null; }
        StartLoadingLibTorch(pair.A[0]);
        var (a, b) = pair;
        long n = a[0].Rows;
        var plan = CkaPlan.Choose(n, r.BatchSize, r.Estimator, r.ShuffleSeed);
        if (plan.Batches is not { } batches || n < 4) { return null; }
        var (result, inputs) = InflatedAndVerified(r, a, b, (a, b) =>
        {
            if (batches.ShuffleSeed is null && LooksSorted(a[0])) { warnings.Add(SortedWarning(r.A)); }
            var mb = AllPairsCka.Minibatch(a, b, batches, r.Kernel, r.RbfThreshold, progress, out var acc);
            return new CkaHeatmapResult(mb, n, acc.Batches, acc.DroppedRows, [.. warnings, .. acc.Warnings],
                                        Description(r.Kernel, r.RbfThreshold, plan, n), plan, notes);
        });
        return result with { Inputs = inputs };
    }

    /// <summary>
    /// The arrays of a request's file (and second file) that a streamed map reads, chosen as
    /// <see cref="SelectStored"/> chooses them and with the same number of rows in both; null when either file cannot be
    /// streamed (the loading path then reads it).
    /// </summary>
    internal static (IReadOnlyList<StoredArray> A, IReadOnlyList<StoredArray>? B)? StoredPair(CkaHeatmapRequest r, List<string> notes, List<string> warnings)
    {
        var a = SelectStored(r.A, r.Layers, notes, warnings, r.MaxNpzBytes);
        var b = a is null || r.B is null ? null : SelectStored(r.B, r.Layers, notes, warnings, r.MaxNpzBytes);
        if (a is null || (r.B is not null && b is null)) { return null; }
        if (b is not null && b[0].Rows != a[0].Rows)
        {
            throw new RepscopeException($"{r.B} has {b[0].Rows} examples (rows) per array but {r.A} has {a[0].Rows}; CKA needs the same examples in the same order");
        }
        return (a, b);
    }

    /// <summary>
    /// Runs <paramref name="compute"/> on the arrays of <see cref="StoredPair"/> with deflated members inflated into
    /// temporary files (removed afterwards), while the request's files are checked and hashed (<see cref="Verified"/>).
    /// </summary>
    internal static (T Result, IReadOnlyList<InputFile> Inputs) InflatedAndVerified<T>(CkaHeatmapRequest r, IReadOnlyList<StoredArray> a,
        IReadOnlyList<StoredArray>? b, Func<IReadOnlyList<StoredArray>, IReadOnlyList<StoredArray>?, T> compute)
    {
        using var inflated = new TemporaryFiles();
        var ia = Inflate(a, inflated);
        var ib = b is null ? null : Inflate(b, inflated);
        string[] files = r.B is null ? [r.A] : [r.A, r.B];
        return Verified(files, [.. ia, .. ib ?? []], () => compute(ia, ib));
    }

    /// <summary>Deflated members inflated into <paramref name="temporaries"/> (<see cref="StoredArray.Inflate"/>), the others as they are.</summary>
    internal static IReadOnlyList<StoredArray> Inflate(IReadOnlyList<StoredArray> arrays, TemporaryFiles temporaries) =>
        [.. arrays.Select(m => m.Inflate(temporaries))];

    /// <summary>
    /// Runs <paramref name="compute"/> (which streams <paramref name="arrays"/> from their files) while another thread takes
    /// one sequential pass over each file: its SHA-256 and the CRC-32 of its stored members (<see cref="StoredArray.VerifyAndHash"/>).
    /// A failure of the computation is reported at once and stops the pass; a corrupt member wins over what the computation
    /// ran into when the pass already found it, and bad values in a member have that member's CRC-32 checked (its bytes
    /// only) before they are reported.
    /// </summary>
    internal static (T Result, IReadOnlyList<InputFile> Inputs) Verified<T>(IReadOnlyList<string> files, IReadOnlyList<StoredArray> arrays, Func<T> compute)
    {
        using var stop = new CancellationTokenSource();
        var verify = Task.Run(() => files.Select(f => StoredArray.VerifyAndHash(f, arrays, stop.Token)).ToList());
        try
        {
            var result = compute();
            return (result, verify.GetAwaiter().GetResult());
        }
        catch (Exception e)
        {
            stop.Cancel();
            try { verify.Wait(); } catch (AggregateException) { }
            if (verify.Exception?.InnerException is RepscopeException corrupt && corrupt != e) { throw corrupt; }
            if (e is NonFiniteDataException bad) { bad.Array.VerifyMember(); }
            throw;
        }
    }

    /// <summary>
    /// The arrays of an .npz chosen as <see cref="LoadNpz(string, IReadOnlyList{string}?, List{string}, List{string}, long)"/>
    /// chooses them, as stored arrays; null when the archive is deflated or a chosen array cannot be streamed
    /// (the loading path then gives the same choice and any error message). Deflated members are not inflated yet.
    /// </summary>
    internal static IReadOnlyList<StoredArray>? SelectStored(string path, IReadOnlyList<string>? patterns, List<string> notes, List<string> warnings,
                                                            long maxNpzBytes)
    {
        var members = StoredArray.OfNpz(path, maxNpzBytes);
        if (members is null) { return null; }
        var layers = new List<StoredArray>();
        foreach (var m in members)
        {
            if (patterns is not null && !Matches(m.Name, patterns)) { continue; }
            if (patterns is null && m.Shape.Length == 1 && !m.DType.IsFloatingPoint())
            {
                if (m.ByteLength > 1L << 28) { return null; }
                SkipLabels(path, m.ReadArray(), notes, warnings);
                continue;
            }
            if (!m.Streamable || m.Rows < 2 || (layers.Count > 0 && m.Rows != layers[0].Rows)) { return null; }
            layers.Add(m);
        }
        return layers.Count == 0 ? null : layers;
    }

    /// <summary>A 1-D integer array is labels or indices, not a layer: a note, and a warning when it is sorted.</summary>
    private static void SkipLabels(string path, NdArray array, List<string> notes, List<string> warnings)
    {
        notes.Add($"{path}: skipped '{array.Name}' ({array.DType.NumpyName()}, one number per example: labels or indices, not a layer; --layers chooses the arrays)");
        var values = array.ToFloat64();
        if (values.Length > 8 && values.Zip(values.Skip(1)).All(p => p.First <= p.Second) && values[0] < values[^1] && !IsIdentity(values))
        {
            warnings.Add($"{path}: array '{array.Name}' is sorted: the examples were saved class by class; minibatches must be shuffled (the default)");
        }
    }

    /// <summary>How a CKA map was computed, for its subtitle and the console (the same for a sharded and an unsharded run).</summary>
    public static string Description(KernelKind kernel, double rbfThreshold, CkaPlan plan, long n) =>
        $"{(kernel == KernelKind.Linear ? "linear" : $"RBF (threshold {rbfThreshold:g})")} CKA, {plan.Describe()} (n = {n})";

    /// <summary>
    /// Starts loading libtorch on another core (<see cref="LibTorchLoader"/>) once the first array's file has been opened
    /// and read as the sortedness check and the batch reader read it, so that this thread's checks run meanwhile. Loading
    /// libtorch holds the dynamic loader's lock for 0.3-0.4 s (its initialisers run inside dlopen), and the runtime
    /// resolves each native function on its first call with dlsym, which takes the same lock: a first call made during the
    /// load waits for all of it (seen: the sortedness check's first positioned read, 0.2-0.5 s of a 2 s heatmap).
    /// </summary>
    private static void StartLoadingLibTorch(StoredArray first)
    {
        if (first.Rows > 0 && first.RowBytes > 0)
        {
            using var file = first.Open();
            Span<byte> one = stackalloc byte[1];
            _ = RandomAccess.Read(file, one, first.DataOffset);
        }
        LibTorchLoader.StartLoading();
    }

    private static string SortedWarning(string file) =>
        $"{file}: consecutive rows look sorted (neighbours are much more alike than random pairs, as when saved class by class) and the minibatches follow file order; drop --no-shuffle";

    /// <summary>
    /// Whether consecutive rows are much more alike than random pairs: the mean squared distance
    /// between neighbours is below half of that between rows half the data apart (up to 2,000 pairs).
    /// </summary>
    public static bool LooksSorted(Tensor layer) => IsSorted(SortednessSums(layer));

    /// <summary>The two sums the sortedness rule compares: squared distances between neighbours, and between rows half the data apart.</summary>
    internal static (double Neighbours, double Far) SortednessSums(Tensor layer)
    {
        var m = layer.dim() == 2 ? layer : layer.reshape(layer.shape[0], -1);
        return SortednessSums(layer.shape[0], rows =>
        {
            using var index = torch.tensor(rows);
            return m.index_select(0, index);
        });
    }

    /// <summary>
    /// <see cref="LooksSorted(Tensor)"/> of an array in a file, reading only the rows it compares: the same pairs and the
    /// same float64 sums, in managed memory through buffers of at most 8 MB whatever the row size (no tensors: on a
    /// 650 MB heatmap input the tensor version spent 0.3-0.6 s mapping and zeroing fresh 8 MB float64 slices).
    /// </summary>
    internal static bool LooksSorted(StoredArray array) => IsSorted(SortednessSums(array));

    /// <inheritdoc cref="SortednessSums(Tensor)"/>
    internal static (double Neighbours, double Far) SortednessSums(StoredArray array)
    {
        long n = array.Rows;
        if (n < 8) { return (0, 0); }
        if (array.DType is not (NpyDType.Float32 or NpyDType.Float64)) { throw new ArgumentException($"{array.Source}: a streamed array is float32 or float64", nameof(array)); }
        var (pairs, step) = SortednessPairs(n);
        long rowBytes = array.RowBytes;
        int slice = (int)Math.Clamp((8L << 20) / Math.Max(1, 3 * rowBytes), 1, pairs);
        long bufferBytes = slice * rowBytes;
        if (bufferBytes > Array.MaxLength) { throw new RepscopeException($"{array.Source}: rows of {rowBytes} bytes are too large to compare"); }
        var first = new byte[bufferBytes];
        var next = new byte[bufferBytes];
        var half = new byte[bufferBytes];
        var rows = new long[slice];
        double neighbours = 0, far = 0;
        using var file = array.Open();
        for (long p0 = 0; p0 < pairs; p0 += slice)
        {
            int count = (int)Math.Min(slice, pairs - p0);
            int bytes = (int)(count * rowBytes);
            for (int i = 0; i < count; i++) { rows[i] = (p0 + i) * step; }
            array.ReadRows(file, rows.AsSpan(0, count), first.AsSpan(0, bytes));
            for (int i = 0; i < count; i++) { rows[i] += 1; }
            array.ReadRows(file, rows.AsSpan(0, count), next.AsSpan(0, bytes));
            for (int i = 0; i < count; i++) { rows[i] += n / 2 - 1; }
            array.ReadRows(file, rows.AsSpan(0, count), half.AsSpan(0, bytes));
            neighbours += SquaredDistance(array.DType, first.AsSpan(0, bytes), next.AsSpan(0, bytes));
            far += SquaredDistance(array.DType, first.AsSpan(0, bytes), half.AsSpan(0, bytes));
        }
        return (neighbours, far);
    }

    private static bool IsSorted((double Neighbours, double Far) sums) => sums.Far > 0 && sums.Neighbours < 0.5 * sums.Far;

    /// <summary>Sum of (a - b)^2 over two equally long runs of float32 or float64 values, in float64.</summary>
    private static double SquaredDistance(NpyDType type, ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) => type == NpyDType.Float32
        ? SquaredDistance<float>(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(a), System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(b))
        : SquaredDistance<double>(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(a), System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(b));

    // Optimised at its first call (as Gram.FinishLinearGram): left to the JIT's first tier, its loop ran as
    // on-stack-replaced code at about half the speed (perf, benchmark input: 0.14 s of CPU against 0.08 s).
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static double SquaredDistance<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y) where T : System.Numerics.IFloatingPointIeee754<T>
    {
        double sum = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double d = double.CreateTruncating(x[i]) - double.CreateTruncating(y[i]);
            sum += d * d;
        }
        return sum;
    }

    /// <summary>How many pairs the sortedness rule compares (up to 2,000), and the stride between their first rows.</summary>
    private static (long Pairs, long Step) SortednessPairs(long n)
    {
        long pairs = Math.Min(2000, n / 2);
        return (pairs, Math.Max(1, (n / 2) / pairs));
    }

    /// <summary>The rule of <see cref="LooksSorted(Tensor)"/>, the compared rows taken (in float64) a slice of pairs at a time.</summary>
    private static (double Neighbours, double Far) SortednessSums(long n, Func<long[], Tensor> take)
    {
        if (n < 8) { return (0, 0); }
        var (pairs, step) = SortednessPairs(n);
        double neighbours = 0, far = 0;
        const long slice = 250;
        for (long p0 = 0; p0 < pairs; p0 += slice)
        {
            using var scope = torch.NewDisposeScope();
            var idx = Enumerable.Range(0, (int)Math.Min(slice, pairs - p0)).Select(i => (p0 + i) * step).ToArray();
            var first = take(idx).to_type(ScalarType.Float64);
            neighbours += first.sub(take(idx.Select(i => i + 1).ToArray()).to_type(ScalarType.Float64)).pow(TorchScalars.Two).sum().item<double>();
            far += first.sub(take(idx.Select(i => i + n / 2).ToArray()).to_type(ScalarType.Float64)).pow(TorchScalars.Two).sum().item<double>();
        }
        return (neighbours, far);
    }

    /// <summary>Whether an array name matches one of the patterns (exact names or globs with * and ?).</summary>
    public static bool Matches(string name, IReadOnlyList<string> patterns) =>
        patterns.Any(p => System.Text.RegularExpressions.Regex.IsMatch(name,
            "^" + System.Text.RegularExpressions.Regex.Escape(p).Replace("\\*", ".*").Replace("\\?", ".") + "$"));

    /// <summary>A named layer as a [rows, features] tensor.</summary>
    public sealed record Layer(string Name, Tensor Data);

    /// <summary>One .npy as a layer, after every check.</summary>
    /// <remarks>A little-endian C-order float32/float64 file is read straight into native memory (<see cref="Npy.ReadFloatTensor"/>)
    /// and checked for non-finite values a slice of rows at a time: memory is the file's data once.</remarks>
    public static Layer LoadNpy(string path)
    {
        if (Npy.ReadFloatTensor(path) is { } t)
        {
            try
            {
                if (t.shape[0] < 2) { throw new RepscopeException($"{path}: {t.shape[0]} row; CKA needs at least 2 examples"); }
                long step = Math.Max(1, (1L << 24) / Math.Max(1, t.shape[1]));
                for (long r = 0; r < t.shape[0]; r += step)
                {
                    using var scope = torch.NewDisposeScope();
                    if (!torch.isfinite(t.narrow(0, r, Math.Min(step, t.shape[0] - r))).all().item<bool>())
                    {
                        throw new RepscopeException($"{path}: contains NaN or infinite values");
                    }
                }
                return new Layer(Path.GetFileName(path), t);
            }
            catch
            {
                t.Dispose();
                throw;
            }
        }
        var array = Npy.Read(path);
        return new Layer(Path.GetFileName(path), ToLayerTensor(array, path));
    }

    /// <summary>
    /// Every array of a .npz as layers, in archive order, after every check (same number of rows,
    /// finite values). The archive is read one member at a time and each array copied into a
    /// tensor before the next is read, so memory peaks at the inputs plus about one array (reading
    /// the whole archive first, as <see cref="Npz.Read"/> does, would hold everything twice).
    /// </summary>
    public static IReadOnlyList<Layer> LoadNpz(string path) => LoadNpz(path, null, [], []);

    /// <summary>
    /// Like <see cref="LoadNpz(string)"/>, with the arrays chosen by <paramref name="patterns"/> (null:
    /// every array except 1-D integer ones, which are labels or indices, not activations: each one
    /// skipped is said in <paramref name="notes"/>, and a sorted one in <paramref name="warnings"/>). An archive whose members
    /// decompress to more than <paramref name="maxNpzBytes"/> in all is refused before any is read.
    /// </summary>
    public static IReadOnlyList<Layer> LoadNpz(string path, IReadOnlyList<string>? patterns, List<string> notes, List<string> warnings,
                                               long maxNpzBytes = Npz.DefaultMaxTotalBytes)
    {
        var layers = new List<Layer>();
        var seen = new List<string>();
        try
        {
            long n = -1;
            string first = "";
            foreach (var array in Npz.Enumerate(path, releaseBetweenMembers: true, maxNpzBytes))
            {
                seen.Add(array.Name);
                string source = $"{path}: array '{array.Name}'";
                if (patterns is not null && !Matches(array.Name, patterns)) { continue; }
                if (patterns is null && array.Rank == 1 && !array.DType.IsFloatingPoint())
                {
                    SkipLabels(path, array, notes, warnings);
                    continue;
                }
                if (n < 0) { (n, first) = (array.Rows, array.Name); }
                else if (array.Rank > 0 && array.Rows != n)
                {
                    throw new RepscopeException($"{source} has {array.Rows} rows (examples), array '{first}' has {n}; every array must hold the same examples");
                }
                layers.Add(new Layer(array.Name, ToLayerTensor(array, source)));
            }
            if (layers.Count == 0)
            {
                throw new RepscopeException(patterns is null
                    ? $"{path}: no layers (arrays of activations) in it"
                    : $"{path}: no array matches {string.Join(", ", patterns)} (it holds {string.Join(", ", seen)})");
            }
            return layers;
        }
        catch
        {
            foreach (var l in layers) { l.Data.Dispose(); }
            throw;
        }
    }

    private static bool IsIdentity(double[] values) => values.Select((v, i) => v == i).All(b => b);

    internal static Tensor ToLayerTensor(NdArray array, string source)
    {
        CheckLayer(array, source);
        return array.DType switch
        {
            NpyDType.Float32 => CopyToNative<float>(array, ScalarType.Float32),
            NpyDType.Float64 => CopyToNative<double>(array, ScalarType.Float64),
            _ => array.ToTensor(ScalarType.Float32),
        };
    }

    /// <summary>The checks of a layer: rows of values, at least 2 of them, all finite (the one-line errors).</summary>
    private static void CheckLayer(NdArray array, string source)
    {
        if (array.Rank == 0) { throw new RepscopeException($"{source}: a single number (0-d array), expected one row per example"); }
        if (array.Length == 0) { throw new RepscopeException($"{source}: empty array of shape {NdArray.ShapeText(array.Shape)}"); }
        if (array.Rows < 2) { throw new RepscopeException($"{source}: {array.Rows} row; CKA needs at least 2 examples"); }
        if (array.HasNonFinite()) { throw new RepscopeException($"{source}: contains NaN or infinite values"); }
    }

    /// <summary>
    /// The array's data copied straight into a tensor in libtorch's (native) memory, without a
    /// managed intermediate copy, so that once the array is released the managed heap can reuse its
    /// space for the next one: memory stays at the inputs plus one array.
    /// </summary>
    private static Tensor CopyToNative<T>(NdArray array, ScalarType type) where T : unmanaged
    {
        if (array.ByteLength >= int.MaxValue) { return array.ToTensor(type); } // Tensor.bytes spans at most 2 GB
        var t = torch.empty([array.Rows, array.FeaturesPerRow], type);
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(array.AsSpan<T>()).CopyTo(t.bytes);
        return t;
    }

    private static void CheckRows(Tensor x, string xName, Tensor y, string yName)
    {
        if (x.shape[0] != y.shape[0])
        {
            throw new RepscopeException($"{yName} has {y.shape[0]} examples (rows) but {xName} has {x.shape[0]}; CKA needs the same examples in the same order");
        }
    }
}

/// <summary>What a heatmap was computed with (cka.json's "settings").</summary>
/// <param name="BatchSize">Requested rows per minibatch; null on whole data.</param>
/// <param name="BatchRows">Rows per batch as used: "25" or "33-34"; null on whole data.</param>
public sealed record CkaHeatmapSettings(string Measure, KernelKind Kernel, double? RbfThreshold, HsicEstimator Estimator, int? BatchSize,
                                        int Batches, string? BatchRows, long? ShuffleSeed, long N, long DroppedRows)
{
    public static CkaHeatmapSettings Of(CkaHeatmapRequest r, CkaHeatmapResult result) => Of(r.Kernel, r.RbfThreshold, result);

    public static CkaHeatmapSettings Of(KernelKind kernel, double rbfThreshold, CkaHeatmapResult result)
    {
        var b = result.Plan?.Batches;
        return new CkaHeatmapSettings("cka", kernel, kernel == KernelKind.Rbf ? rbfThreshold : null, result.Plan?.Estimator ?? HsicEstimator.Biased,
            b?.BatchSize, result.Batches, b is null ? null : b.LargestBatch > b.SmallestBatch ? $"{b.SmallestBatch}-{b.LargestBatch}" : $"{b.SmallestBatch}",
            b?.ShuffleSeed, result.N, result.DroppedRows);
    }
}

/// <summary>cka.json of <c>heatmap</c>: the matrix (as <see cref="CkaMatrixJson"/>: null where undefined), how it was computed and from what.</summary>
public sealed record CkaHeatmapJson(string[] Rows, string[] Columns, double[][] Values, CkaHeatmapSettings Settings,
                                    IReadOnlyList<InputFile> Inputs, CommandProvenance Provenance, IReadOnlyList<string> Notes);
