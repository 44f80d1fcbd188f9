using Repscope.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Similarity;

/// <summary>What <see cref="CkaFiles.Pair"/> computes: CKA of two activation matrices stored as .npy.</summary>
/// <param name="BatchSize">Null: whole data. Otherwise minibatch CKA (paper Eq. 3, unbiased HSIC) over consecutive batches.</param>
public sealed record CkaPairRequest(string X, string Y, KernelKind Kernel = KernelKind.Linear, HsicEstimator Estimator = HsicEstimator.Biased,
                                    double RbfThreshold = 0.5, int? BatchSize = null);

/// <summary>The answer of <see cref="CkaFiles.Pair"/>: <see cref="Cka"/> is NaN (null in JSON) when undefined, with <see cref="Error"/> saying why.</summary>
public sealed record CkaPairResult(double Cka, KernelKind Kernel, HsicEstimator Estimator, double? RbfThreshold, long N,
                                   int? BatchSize, int Batches, long DroppedRows, IReadOnlyList<string> Warnings, string? Error);

/// <summary>What <see cref="CkaFiles.Heatmap"/> computes: all-pairs CKA of the arrays of one .npz, or between two.</summary>
/// <param name="Estimator">Unbiased: minibatch CKA (paper Eq. 3) with <paramref name="BatchSize"/>; biased: whole data.</param>
public sealed record CkaHeatmapRequest(string A, string? B, int BatchSize = 256, HsicEstimator Estimator = HsicEstimator.Unbiased,
                                       KernelKind Kernel = KernelKind.Linear, double RbfThreshold = 0.5);

public sealed record CkaHeatmapResult(CkaMatrix Matrix, long N, int Batches, long DroppedRows, IReadOnlyList<string> Warnings, string Description);

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
        var x = LoadNpy(r.X);
        var y = LoadNpy(r.Y);
        try
        {
            CheckRows(x.Data, r.X, y.Data, r.Y);
            double? threshold = r.Kernel == KernelKind.Rbf ? r.RbfThreshold : null;
            if (r.BatchSize is int b)
            {
                if (r.Estimator == HsicEstimator.Biased) { throw new RepscopeException("--batch-size computes minibatch CKA with the unbiased HSIC (paper Eq. 3); it cannot be combined with --estimator biased"); }
                try
                {
                    var mb = Cka.MinibatchDetailed(x.Data, y.Data, b, r.Kernel, r.RbfThreshold, r.X, r.Y, progress);
                    return new CkaPairResult(mb.Value, r.Kernel, HsicEstimator.Unbiased, threshold, x.Data.shape[0], b, mb.Batches, mb.DroppedRows, mb.Warnings, null);
                }
                catch (UndefinedResultException e)
                {
                    return new CkaPairResult(double.NaN, r.Kernel, HsicEstimator.Unbiased, threshold, x.Data.shape[0], b, 0, 0, [], e.Message);
                }
            }
            try
            {
                double v = Cka.Compute(x.Data, y.Data, new CkaOptions(r.Kernel, r.Estimator, r.RbfThreshold), r.X, r.Y);
                return new CkaPairResult(v, r.Kernel, r.Estimator, threshold, x.Data.shape[0], null, 1, 0, [], null);
            }
            catch (UndefinedResultException e)
            {
                return new CkaPairResult(double.NaN, r.Kernel, r.Estimator, threshold, x.Data.shape[0], null, 0, 0, [], e.Message);
            }
        }
        finally
        {
            x.Data.Dispose();
            y.Data.Dispose();
        }
    }

    /// <summary>All-pairs CKA of the arrays in one .npz (or between two), minibatch (unbiased) or whole data (biased).</summary>
    public static CkaHeatmapResult Heatmap(CkaHeatmapRequest r, IProgressReporter? progress = null)
    {
        progress ??= ProgressReporter.None;
        NativeHeap.ReturnLargeBlocksToTheSystem();
        if (r.Estimator == HsicEstimator.Unbiased && r.BatchSize < 4)
        {
            throw new RepscopeException($"--batch-size must be at least 4 (the unbiased HSIC needs 4 rows per batch), got {r.BatchSize}");
        }
        new CkaOptions(r.Kernel, r.Estimator, r.RbfThreshold).Validate();
        var a = LoadNpz(r.A);
        var b = r.B is null ? null : LoadNpz(r.B);
        try
        {
            long n = a[0].Data.shape[0];
            if (b is not null && b[0].Data.shape[0] != n)
            {
                throw new RepscopeException($"{r.B} has {b[0].Data.shape[0]} examples (rows) per array but {r.A} has {n}; CKA needs the same examples in the same order");
            }
            var rows = a.Select(l => l.Data).ToArray();
            var rowNames = a.Select(l => l.Name).ToArray();
            var cols = b?.Select(l => l.Data).ToArray();
            var colNames = b?.Select(l => l.Name).ToArray();
            string kernel = KernelText(r.Kernel, r.RbfThreshold);
            if (r.Estimator == HsicEstimator.Biased)
            {
                var m = AllPairsCka.WholeData(rows, rowNames, cols, colNames, new CkaOptions(r.Kernel, HsicEstimator.Biased, r.RbfThreshold), progress);
                return new CkaHeatmapResult(m, n, 1, 0, [], $"{kernel} CKA, biased HSIC, whole data (n = {n})");
            }
            if (n < 4) { throw new UndefinedResultException($"{r.A}: {n} rows; the unbiased HSIC needs at least 4"); }
            var mb = AllPairsCka.Minibatch(rows, rowNames, cols, colNames, r.BatchSize, r.Kernel, r.RbfThreshold, progress, out var acc);
            return new CkaHeatmapResult(mb, n, acc.Batches, acc.DroppedRows, acc.Warnings, MinibatchDescription(r.Kernel, r.RbfThreshold, acc.Batches, r.BatchSize, n));
        }
        finally
        {
            foreach (var l in a) { l.Data.Dispose(); }
            foreach (var l in b ?? []) { l.Data.Dispose(); }
        }
    }

    /// <summary>How a minibatch CKA map was computed, for its subtitle and the console.</summary>
    public static string MinibatchDescription(KernelKind kernel, double rbfThreshold, int batches, int batchSize, long n) =>
        $"minibatch {KernelText(kernel, rbfThreshold)} CKA, unbiased HSIC, {batches} batches of {Math.Min(batchSize, n)} (n = {n})";

    private static string KernelText(KernelKind kernel, double rbfThreshold) => kernel == KernelKind.Linear ? "linear" : $"RBF (threshold {rbfThreshold:g})";

    /// <summary>A named layer as a [rows, features] tensor.</summary>
    public sealed record Layer(string Name, Tensor Data);

    /// <summary>One .npy as a layer, after every check.</summary>
    public static Layer LoadNpy(string path)
    {
        var array = Npy.Read(path);
        return new Layer(Path.GetFileName(path), ToLayerTensor(array, path));
    }

    /// <summary>
    /// Every array of a .npz as layers, in archive order, after every check (same number of rows,
    /// finite values). The archive is read one member at a time and each array copied into a
    /// tensor before the next is read, so memory peaks at the inputs plus about one array (reading
    /// the whole archive first, as <see cref="Npz.Read"/> does, would hold everything twice).
    /// </summary>
    public static IReadOnlyList<Layer> LoadNpz(string path)
    {
        var layers = new List<Layer>();
        try
        {
            long n = -1;
            string first = "";
            foreach (var array in Npz.Enumerate(path, releaseBetweenMembers: true))
            {
                string source = $"{path}: array '{array.Name}'";
                if (n < 0) { (n, first) = (array.Rows, array.Name); }
                else if (array.Rank > 0 && array.Rows != n)
                {
                    throw new RepscopeException($"{source} has {array.Rows} rows (examples), array '{first}' has {n}; every array must hold the same examples");
                }
                layers.Add(new Layer(array.Name, ToLayerTensor(array, source)));
            }
            return layers;
        }
        catch
        {
            foreach (var l in layers) { l.Data.Dispose(); }
            throw;
        }
    }

    private static Tensor ToLayerTensor(NdArray array, string source)
    {
        if (array.Rank == 0) { throw new RepscopeException($"{source}: a single number (0-d array), expected one row per example"); }
        if (array.Length == 0) { throw new RepscopeException($"{source}: empty array of shape {NdArray.ShapeText(array.Shape)}"); }
        if (array.Rows < 2) { throw new RepscopeException($"{source}: {array.Rows} row; CKA needs at least 2 examples"); }
        if (array.HasNonFinite()) { throw new RepscopeException($"{source}: contains NaN or infinite values"); }
        return array.DType switch
        {
            NpyDType.Float32 => CopyToNative<float>(array, ScalarType.Float32),
            NpyDType.Float64 => CopyToNative<double>(array, ScalarType.Float64),
            _ => array.ToTensor(ScalarType.Float32),
        };
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

/// <summary>
/// glibc raises its mmap threshold each time a large block is freed, after which blocks of several
/// MB (libtorch temporaries) come from the heap and the freed space is kept: the process grows by
/// ~100 MB over a long minibatch loop. Fixing the threshold at 1 MB returns large blocks at once.
/// </summary>
internal static partial class NativeHeap
{
    private const int MmapThreshold = -3; // M_MMAP_THRESHOLD in malloc.h

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int MallOpt(int parameter, int value);

    public static void ReturnLargeBlocksToTheSystem()
    {
        if (!OperatingSystem.IsLinux()) { return; }
        try { MallOpt(MmapThreshold, 1 << 20); }
        catch (EntryPointNotFoundException) { } // not glibc (e.g. musl): nothing to tune
        catch (DllNotFoundException) { }
    }
}
