using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Repscope.Interop;
using Repscope.Similarity;
using static TorchSharp.torch;

namespace Repscope.Cluster;

/// <summary>Slice <see cref="Index"/> (1-based) of <see cref="Count"/>: "K/N" on the command line.</summary>
public sealed record ShardSpec(int Index, int Count)
{
    public static ShardSpec Parse(string text)
    {
        var parts = text.Split('/');
        if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int k)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1 || k < 1 || k > n)
        {
            throw new RepscopeException($"shard '{text}' is not K/N with 1 <= K <= N (e.g. 2/8: the second of eight slices)");
        }
        return new ShardSpec(k, n);
    }

    /// <summary>The minibatches [first, end) of <paramref name="batches"/> this slice takes: contiguous, as even as whole batches allow.</summary>
    public (long First, long End) Batches(long batches) => (batches * (Index - 1) / Count, batches * Index / Count);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Index}/{Count}");
}

/// <summary>One input of a sharded computation: its file name, size and SHA-256, so that states of other data are refused.</summary>
public sealed record ShardInput(string File, long Bytes, string Sha256);

/// <summary>A model a `layers` or `compare` state streamed examples through: its name (run folder or ONNX file), path and architecture.</summary>
public sealed record ShardModel(string Name, string Path, string Architecture);

/// <summary>The settings and provenance stored with a CKA accumulator state; states merge only when all of it but the shard agrees.</summary>
/// <param name="Inputs">What the numbers came from, by content: heatmap: the .npz files; layers / compare: each model's weights
/// (a run's model.pt, an ONNX file) and the examples (a run's test-set fingerprint, an ONNX model's input arrays).</param>
public sealed record CkaStateInfo(string Format, int Shard, int Shards, long FirstBatch, long EndBatch, long Examples, int BatchSize,
                                  KernelKind Kernel, double RbfThreshold, bool CrossModel, IReadOnlyList<string> Rows, IReadOnlyList<string> Columns,
                                  IReadOnlyList<ShardInput> Inputs, long? ShuffleSeed = null)
{
    /// <summary>The command that wrote the state (<see cref="CkaShards.Heatmap"/>, <see cref="CkaShards.Layers"/>, <see cref="CkaShards.Compare"/>): merge writes its outputs.</summary>
    public string Command { get; init; } = CkaShards.Heatmap;

    /// <summary>The HSIC estimator: always the unbiased minibatch one (paper Eq. 3); the only one that can be split.</summary>
    public string Estimator { get; init; } = CkaShards.MinibatchEstimator;

    /// <summary>layers / compare: the tap set the layer names come from (blocks, branches, all, or a --taps list for ONNX).</summary>
    public string? Taps { get; init; }

    /// <summary>layers / compare: the models, in order (compare: the rows' model, then the columns').</summary>
    public IReadOnlyList<ShardModel> Models { get; init; } = [];

    /// <summary>layers: the block-structure settings merge detects block structure with (threshold, minimum layers).</summary>
    public IReadOnlyList<double>? BlockStructureOptions { get; init; }

    /// <summary>The command line that wrote the state (provenance only; not compared).</summary>
    public IReadOnlyList<string> CommandLine { get; init; } = [];
}

/// <summary>A state file read back: settings, sums and (layers / compare) each minibatch's HSIC values.</summary>
public sealed record CkaShardState(CkaStateInfo Info, MinibatchCkaSums Sums, CkaBatchState? Batches);

/// <summary>
/// All-pairs minibatch CKA split across jobs. Minibatch CKA (paper Eq. 3) is a ratio of sums over batches,
/// so the batches can be divided among jobs: <see cref="Accumulate"/> sums the K-th of N contiguous runs of
/// whole batches (the same batches one unsharded run would make) and stores the sums with their settings and
/// the inputs' checksums; <see cref="Merge"/> adds the states of all N slices and gives the CKA matrix of one
/// unsharded run (equal up to the order of the floating-point additions).
/// State file (.npz, numpy-readable): <c>state.json</c> (uint8, UTF-8 JSON of <see cref="CkaStateInfo"/>),
/// <c>cross</c> (float64 [rows, columns]), <c>row_self</c>, <c>column_self</c> (float64), <c>counts</c>
/// (int64 [batches, examples, dropped rows]), <c>warnings.json</c> (uint8, a JSON list of strings).
/// </summary>
public static class CkaShards
{
    public const string Format = "repscope-cka-state/4";

    /// <summary>The commands that write states.</summary>
    public const string Heatmap = "heatmap", Layers = "layers", Compare = "compare";

    public const string MinibatchEstimator = "unbiased minibatch (Eq. 3)";

    /// <summary>Accumulates slice <paramref name="shard"/> of the request's examples and writes the state to <paramref name="statePath"/>.</summary>
    public static CkaStateInfo Accumulate(CkaHeatmapRequest r, ShardSpec shard, string statePath, IProgressReporter? progress = null)
    {
        if (r.Estimator == HsicEstimator.Biased)
        {
            throw new RepscopeException("only minibatch CKA (the unbiased estimator) can be split into shards: the biased estimator needs every example at once");
        }
        int batchSize = r.BatchSize ?? CkaPlan.DefaultBatchSize;
        if (batchSize < 4) { throw new RepscopeException($"batch size must be at least 4 (the unbiased HSIC needs 4 rows per batch), got {batchSize}"); }
        new CkaOptions(r.Kernel, HsicEstimator.Unbiased, r.RbfThreshold).Validate();
        if (Streamed(r, shard, statePath, batchSize, progress) is { } streamed) { return streamed; }
        var inputs = new List<ShardInput> { Describe(r.A) };
        if (r.B is not null) { inputs.Add(Describe(r.B)); }
        var a = CkaFiles.LoadNpz(r.A, r.Layers, [], [], r.MaxNpzBytes);
        var b = r.B is null ? null : CkaFiles.LoadNpz(r.B, r.Layers, [], [], r.MaxNpzBytes);
        try
        {
            long n = a[0].Data.shape[0];
            if (b is not null && b[0].Data.shape[0] != n)
            {
                throw new RepscopeException($"{r.B} has {b[0].Data.shape[0]} examples (rows) per array but {r.A} has {n}; CKA needs the same examples in the same order");
            }
            // The batches of one unsharded run (CkaPlan: equal batches, seeded order); this shard sums a contiguous run of them.
            var plan = new BatchPlan(n, batchSize, r.ShuffleSeed);
            var (first, end) = shard.Batches(plan.Count);
            var rowNames = a.Select(l => l.Name).ToArray();
            var colNames = b?.Select(l => l.Name).ToArray();
            MinibatchCkaAccumulator acc;
            if (end <= first)
            {
                acc = colNames is null ? new MinibatchCkaAccumulator(rowNames, r.Kernel, r.RbfThreshold)
                                       : new MinibatchCkaAccumulator(rowNames, colNames, r.Kernel, r.RbfThreshold);
            }
            else
            {
                AllPairsCka.Minibatch([.. a.Select(l => l.Data)], rowNames, b?.Select(l => l.Data).ToArray(), colNames,
                                      plan, r.Kernel, r.RbfThreshold, progress, out acc, (int)first, (int)end);
            }
            var info = new CkaStateInfo(Format, shard.Index, shard.Count, first, end, n, batchSize, r.Kernel, r.RbfThreshold,
                                        b is not null, rowNames, colNames ?? rowNames, inputs, r.ShuffleSeed);
            Write(statePath, info, acc.Sums());
            return info;
        }
        finally
        {
            foreach (var l in a) { l.Data.Dispose(); }
            foreach (var l in b ?? []) { l.Data.Dispose(); }
        }
    }

    /// <summary>
    /// <see cref="Accumulate"/> for .npz members (deflated ones inflated once into a temporary file first): the shard's batches are read from the files a
    /// batch at a time (memory: two batches of every layer), as the unsharded heatmap reads them, while another thread
    /// takes the files' SHA-256 and checks the members' CRC-32; null when an array cannot be streamed (then everything is
    /// loaded, with the same choice of layers and any error message).
    /// </summary>
    private static CkaStateInfo? Streamed(CkaHeatmapRequest r, ShardSpec shard, string statePath, int batchSize, IProgressReporter? progress)
    {
        if (CkaFiles.StoredPair(r, [], []) is not { } pair) { return null; }
        var (a, b) = pair;
        long n = a[0].Rows;
        var plan = new BatchPlan(n, batchSize, r.ShuffleSeed);
        var (first, end) = shard.Batches(plan.Count);
        var rowNames = a.Select(l => l.Name).ToArray();
        var colNames = b?.Select(l => l.Name).ToArray();
        var (acc, verified) = CkaFiles.InflatedAndVerified(r, a, b, (a, b) =>
        {
            if (end <= first)
            {
                return colNames is null ? new MinibatchCkaAccumulator(rowNames, r.Kernel, r.RbfThreshold)
                                        : new MinibatchCkaAccumulator(rowNames, colNames, r.Kernel, r.RbfThreshold);
            }
            AllPairsCka.Minibatch(a, b, plan, r.Kernel, r.RbfThreshold, progress, out var sums, (int)first, (int)end);
            return sums;
        });
        var inputs = verified.Select(f => new ShardInput(Path.GetFileName(f.Path), f.Bytes, f.Sha256)).ToList();
        var info = new CkaStateInfo(Format, shard.Index, shard.Count, first, end, n, batchSize, r.Kernel, r.RbfThreshold,
                                    b is not null, rowNames, colNames ?? rowNames, inputs, r.ShuffleSeed);
        Write(statePath, info, acc.Sums());
        return info;
    }

    /// <summary>
    /// Merges the states of all N slices of one computation (each exactly once, any order) into the CKA
    /// matrix of the unsharded run. States of other inputs, settings or slicings are refused, naming the file.
    /// </summary>
    public static (CkaHeatmapResult Result, CkaStateInfo Info) Merge(IReadOnlyList<string> statePaths)
    {
        var (total, info) = MergeStates(statePaths, Heatmap);
        var m = total.Result();
        // The same description as the unsharded run's, so that the written map is the same too.
        var plan = new CkaPlan(HsicEstimator.Unbiased, new BatchPlan(info.Examples, info.BatchSize, info.ShuffleSeed));
        string description = CkaFiles.Description(info.Kernel, info.RbfThreshold, plan, info.Examples);
        return (new CkaHeatmapResult(m, info.Examples, total.Batches, total.DroppedRows, total.Warnings, description, plan), info);
    }

    /// <summary>The command (<see cref="Heatmap"/>, <see cref="Layers"/> or <see cref="Compare"/>) that wrote the first of <paramref name="statePaths"/>.</summary>
    public static string CommandOf(IReadOnlyList<string> statePaths)
    {
        if (statePaths.Count == 0) { throw new RepscopeException("merge needs at least one state file"); }
        return ReadState(statePaths[0]).Info.Command;
    }

    /// <summary>
    /// Adds the states of all N slices of one computation of <paramref name="command"/> (each exactly once, any order) into
    /// one accumulator (with per-batch state, in batch order, when the states carry it). States of another command, other
    /// inputs, settings or slicings are refused, naming the file.
    /// </summary>
    public static (MinibatchCkaAccumulator Total, CkaStateInfo Info) MergeStates(IReadOnlyList<string> statePaths, string command)
    {
        if (statePaths.Count == 0) { throw new RepscopeException("merge needs at least one state file"); }
        var states = statePaths.Select(p => (Path: p, State: ReadState(p))).ToList();
        var (firstPath, first) = states[0];
        var info = first.Info;
        if (info.Command != command) { throw new RepscopeException($"{firstPath}: a shard state of `repscope {info.Command}`, not of `repscope {command}`"); }
        foreach (var (path, other) in states.Skip(1))
        {
            string? why = Mismatch(info, other.Info);
            if (why is not null) { throw new RepscopeException($"{path}: {why} than {firstPath}; states merge only when they slice the same computation"); }
        }
        var seen = new Dictionary<int, string>();
        foreach (var (path, other) in states)
        {
            if (!seen.TryAdd(other.Info.Shard, path)) { throw new RepscopeException($"{path}: shard {other.Info.Shard}/{other.Info.Shards} is also in {seen[other.Info.Shard]}"); }
        }
        var missing = Enumerable.Range(1, info.Shards).Where(k => !seen.ContainsKey(k)).ToList();
        if (missing.Count > 0)
        {
            throw new RepscopeException($"{firstPath}: shard(s) {string.Join(", ", missing.Select(k => $"{k}/{info.Shards}"))} missing; merge needs all {info.Shards}");
        }
        bool batches = states.All(s => s.State.Batches is not null);
        MinibatchCkaAccumulator? total = null;
        foreach (var (_, (i, sums, kept)) in states.OrderBy(s => s.State.Info.Shard))
        {
            var acc = MinibatchCkaAccumulator.Restore(i.Rows, i.Columns, i.CrossModel, i.Kernel, i.RbfThreshold, sums, batches ? kept : null);
            if (total is null) { total = acc; } else { total.Merge(acc); }
        }
        return (total!, info);
    }

    private static string? Mismatch(CkaStateInfo a, CkaStateInfo b)
    {
        if (a.Command != b.Command) { return $"it was written by another command (`repscope {b.Command}`)"; }
        if (a.Shards != b.Shards) { return $"it is one of {b.Shards} shards, not {a.Shards},"; }
        if (!a.Inputs.Select(i => i.Sha256).SequenceEqual(b.Inputs.Select(i => i.Sha256)))
        {
            return $"its inputs ({string.Join(", ", b.Inputs.Select(i => i.File))}) have other contents (SHA-256)";
        }
        if (a.BatchSize != b.BatchSize || a.ShuffleSeed != b.ShuffleSeed || a.Kernel != b.Kernel || a.RbfThreshold != b.RbfThreshold
            || a.Examples != b.Examples || a.CrossModel != b.CrossModel || a.Estimator != b.Estimator || a.Taps != b.Taps
            || !(a.BlockStructureOptions ?? []).SequenceEqual(b.BlockStructureOptions ?? []))
        {
            return "it was made with other settings (batch size, examples, shuffle seed, kernel, RBF threshold, taps, block-structure options)";
        }
        if (!a.Rows.SequenceEqual(b.Rows) || !a.Columns.SequenceEqual(b.Columns)) { return "it holds other layers"; }
        return null;
    }

    /// <summary>A file by name, size and SHA-256.</summary>
    public static ShardInput Describe(string path)
    {
        if (!File.Exists(path)) { throw new FileNotFoundException($"{path}: no such file", path); }
        using var stream = File.OpenRead(path);
        return new ShardInput(Path.GetFileName(path), stream.Length, Convert.ToHexStringLower(SHA256.HashData(stream)));
    }

    /// <summary>Writes a state (<paramref name="batches"/>: each minibatch's HSIC values, for a bootstrap of the merged map).</summary>
    public static void Write(string path, CkaStateInfo info, MinibatchCkaSums sums, CkaBatchState? batches = null)
    {
        int rows = sums.Cross.GetLength(0), cols = sums.Cross.GetLength(1);
        var cross = new double[rows * cols];
        Buffer.BlockCopy(sums.Cross, 0, cross, 0, cross.Length * sizeof(double));
        byte[] Json(object o) => Encoding.UTF8.GetBytes(JsonSerializer.Serialize(o, JsonDefaults.Compact));
        Npz.Write(path, [
            NdArray.FromUInt8("state.json", Json(info)),
            NdArray.FromFloat64("cross", cross, rows, cols),
            NdArray.FromFloat64("row_self", sums.RowSelf),
            NdArray.FromFloat64("column_self", sums.ColumnSelf),
            NdArray.FromInt64("counts", [sums.Batches, sums.Examples, sums.DroppedRows]),
            // Each layer's power-of-two scale of the sums (MinibatchCkaAccumulator), NoShift where no batch was added.
            NdArray.FromInt64("row_shift", [.. sums.RowShift.Select(ShiftValue)]),
            NdArray.FromInt64("column_shift", [.. sums.ColumnShift.Select(ShiftValue)]),
            NdArray.FromUInt8("warnings.json", Json(sums.Warnings)),
            .. batches is null ? [] : new[]
            {
                NdArray.FromFloat64("batch_cross", [.. batches.Cross.SelectMany(c => c)], batches.Batches, rows, cols),
                NdArray.FromFloat64("batch_row_self", [.. batches.RowSelf.SelectMany(c => c)], batches.Batches, rows),
                NdArray.FromFloat64("batch_column_self", [.. batches.ColumnSelf.SelectMany(c => c)], batches.Batches, batches.IsCrossModel ? cols : rows),
            },
        ]);
    }

    /// <summary>Reads a state file written by <see cref="Accumulate"/>, checking its format and shapes.</summary>
    public static (CkaStateInfo Info, MinibatchCkaSums Sums) Read(string path)
    {
        var state = ReadState(path);
        return (state.Info, state.Sums);
    }

    /// <summary>Reads a state file with its per-batch values when it has them, checking its format and shapes.</summary>
    public static CkaShardState ReadState(string path)
    {
        IReadOnlyList<NdArray> arrays;
        try { arrays = Npz.Read(path); }
        catch (RepscopeException e) when (!e.Message.StartsWith(path, StringComparison.Ordinal)) { throw new RepscopeException($"{path}: {e.Message}"); }
        NdArray Member(string name) => arrays.FirstOrDefault(a => a.Name == name)
                                      ?? throw new RepscopeException($"{path}: not a CKA state (no '{name}'; a state is the {Format} .npz that one shard of a CKA heatmap, layers or compare writes)");
        CkaStateInfo? info;
        try { info = JsonSerializer.Deserialize<CkaStateInfo>(Bytes(Member("state.json")), JsonDefaults.Options); }
        catch (JsonException e) { throw new RepscopeException($"{path}: state.json is not valid ({e.Message})"); }
        if (info is null || info.Format != Format)
        {
            throw new RepscopeException($"{path}: state format '{info?.Format}', this version reads '{Format}'");
        }
        if (info.Rows is null || info.Columns is null || info.Inputs is null || info.Shards < 1 || info.Shard < 1 || info.Shard > info.Shards)
        {
            throw new RepscopeException($"{path}: state.json is incomplete (layers, inputs or shard missing)");
        }
        int r = info.Rows.Count, c = info.Columns.Count;
        var cross = Member("cross");
        var rowSelf = Member("row_self");
        var columnSelf = Member("column_self");
        var counts = Member("counts");
        if (cross.DType != NpyDType.Float64 || !cross.Shape.SequenceEqual([r, c]) || rowSelf.DType != NpyDType.Float64 || rowSelf.Length != r
            || columnSelf.DType != NpyDType.Float64 || columnSelf.Length != c || counts.DType != NpyDType.Int64 || counts.Length != 3)
        {
            throw new RepscopeException($"{path}: the sums do not match the {r} x {c} layers of its state.json");
        }
        var flat = cross.ToFloat64();
        var matrix = new double[r, c];
        Buffer.BlockCopy(flat, 0, matrix, 0, flat.Length * sizeof(double));
        long[] n = counts.ToInt64();
        var warnings = JsonSerializer.Deserialize<string[]>(Bytes(Member("warnings.json"))) ?? [];
        var rowShift = Member("row_shift");
        var columnShift = Member("column_shift");
        if (rowShift.DType != NpyDType.Int64 || rowShift.Length != r || columnShift.DType != NpyDType.Int64 || columnShift.Length != (info.CrossModel ? c : 0))
        {
            throw new RepscopeException($"{path}: the layer scales do not match the {r} x {c} layers of its state.json");
        }
        var sums = new MinibatchCkaSums(matrix, rowSelf.ToFloat64(), columnSelf.ToFloat64(), checked((int)n[0]), n[1], n[2], warnings)
        {
            RowShift = [.. rowShift.ToInt64().Select(ShiftOf)],
            ColumnShift = [.. columnShift.ToInt64().Select(ShiftOf)],
        };
        return new CkaShardState(info, sums, BatchesOf(path, arrays, info, sums.Batches));
    }

    private static CkaBatchState? BatchesOf(string path, IReadOnlyList<NdArray> arrays, CkaStateInfo info, int batches)
    {
        var cross = arrays.FirstOrDefault(a => a.Name == "batch_cross");
        if (cross is null) { return null; }
        var rowSelf = arrays.FirstOrDefault(a => a.Name == "batch_row_self");
        var columnSelf = arrays.FirstOrDefault(a => a.Name == "batch_column_self");
        int r = info.Rows.Count, c = info.Columns.Count, cs = info.CrossModel ? c : r;
        if (rowSelf is null || columnSelf is null || !cross.Shape.SequenceEqual([batches, r, c]) || !rowSelf.Shape.SequenceEqual([batches, r])
            || !columnSelf.Shape.SequenceEqual([batches, cs]) || cross.DType != NpyDType.Float64 || rowSelf.DType != NpyDType.Float64 || columnSelf.DType != NpyDType.Float64)
        {
            throw new RepscopeException($"{path}: the per-batch values do not match the {batches} batches and {r} x {c} layers of its state.json");
        }
        double[][] Split(double[] flat, int size) => [.. Enumerable.Range(0, batches).Select(b => flat.AsSpan(b * size, size).ToArray())];
        var rs = Split(rowSelf.ToFloat64(), r);
        return new CkaBatchState(info.Rows, info.Columns, info.CrossModel, info.Kernel, info.RbfThreshold, Split(cross.ToFloat64(), r * c), rs,
                                 info.CrossModel ? Split(columnSelf.ToFloat64(), c) : rs);
    }

    private const long NoShift = long.MinValue;

    private static long ShiftValue(int? shift) => shift ?? NoShift;

    private static int? ShiftOf(long value) => value == NoShift ? null : checked((int)value);

    private static byte[] Bytes(NdArray a) =>
        a.DType == NpyDType.UInt8 ? a.AsSpan<byte>().ToArray() : throw new RepscopeException($"'{a.Name}' is {a.DType}, expected uint8 bytes");
}
