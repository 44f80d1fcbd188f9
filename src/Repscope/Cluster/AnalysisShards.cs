using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Repscope.Analysis;
using Repscope.Models;
using Repscope.Runs;
using Repscope.Similarity;
using Repscope.Workflows;

namespace Repscope.Cluster;

/// <summary>
/// `repscope layers` and `repscope compare` split across jobs. Both stream the examples through the models in minibatches
/// and sum minibatch CKA's HSIC terms (paper Eq. 3), so the K-th of N jobs can stream the K-th of N contiguous runs of
/// whole minibatches (the same batches one unsharded run makes) and store its sums and each batch's HSIC values
/// (<see cref="CkaShards"/> state, with the models' and examples' checksums, the taps and the settings). <see cref="MergeLayers"/> /
/// <see cref="MergeCompare"/> add the states of all N slices and write what one unsharded run writes from its CKA map: the map,
/// its heatmap, the block structure and the block-structure score with its bootstrap over batches. What needs every example
/// in one job is not available from shards: the first principal components (PC1 fractions, layers_pc1.png) and more than one epoch.
/// </summary>
public static class AnalysisShards
{
    /// <summary>Accumulates slice <paramref name="shard"/> of the within-model CKA of <paramref name="source"/> (`layers --shard`) into <paramref name="statePath"/>.</summary>
    public static CkaStateInfo Layers(IActivationSource source, StreamOptions options, ShardSpec shard, string statePath, BlockStructureOptions? blockOptions = null,
                                      IReadOnlyList<string>? commandLine = null, IProgressReporter? progress = null)
    {
        CheckOptions(options);
        var blocks = (blockOptions ?? BlockStructureOptions.Default).Validated();
        var (start, count, first, end) = Slice(source.Examples, options.BatchSize, shard);
        var acc = new MinibatchCkaAccumulator(source.Layers) { KeepBatches = true };
        if (count > 0)
        {
            // One set of CKA workers for the slice's batches, as LayerSimilarity keeps for a whole pass.
            using var workers = GramWorkers.ForCallingThread();
            source.Pass(start, count, options.BatchSize, progress ?? ProgressReporter.None)((_, taps) => acc.Add(taps, overwrite: false, workers));
        }
        var info = new CkaStateInfo(CkaShards.Format, shard.Index, shard.Count, first, end, source.Examples, options.BatchSize, acc.Kernel, acc.RbfThreshold,
                                    CrossModel: false, source.Layers, source.Layers, [.. Identity(source)])
        {
            Command = CkaShards.Layers,
            Taps = source.Taps.ToString(),
            Models = [Model(source)],
            BlockStructureOptions = [blocks.Threshold, blocks.MinLayers],
            CommandLine = commandLine ?? [],
        };
        CkaShards.Write(statePath, info, acc.Sums(), acc.BatchState());
        return info;
    }

    /// <summary>Accumulates slice <paramref name="shard"/> of the cross-model CKA of <paramref name="a"/> (rows) and <paramref name="b"/> (columns) (`compare --shard`).</summary>
    public static CkaStateInfo Compare(IActivationSource a, IActivationSource b, StreamOptions options, ShardSpec shard, string statePath,
                                       IReadOnlyList<string>? commandLine = null, IProgressReporter? progress = null)
    {
        CheckOptions(options);
        if (a.Examples != b.Examples)
        {
            throw new RepscopeException($"{b.Path} has {b.Examples} examples, {a.Path} has {a.Examples}; CKA needs the same examples (use {RepscopeException.Option("examples")} N)");
        }
        var (ia, ib) = (Identity(a), Identity(b));
        if (a is RunSource && b is RunSource && ia[^1].Sha256 != ib[^1].Sha256)
        {
            throw new RepscopeException($"{a.Path} and {b.Path} were evaluated on different test examples; CKA needs the same examples");
        }
        var (start, count, first, end) = Slice(a.Examples, options.BatchSize, shard);
        var acc = new MinibatchCkaAccumulator(a.Layers, b.Layers) { KeepBatches = true };
        if (count > 0)
        {
            using var workers = GramWorkers.ForCallingThread();
            CompareWorkflow.PairedPass(a, b, start, count, options.BatchSize, progress ?? ProgressReporter.None)((ta, tb) => acc.Add(ta, tb, overwrite: false, workers));
        }
        var info = new CkaStateInfo(CkaShards.Format, shard.Index, shard.Count, first, end, a.Examples, options.BatchSize, acc.Kernel, acc.RbfThreshold,
                                    CrossModel: true, a.Layers, b.Layers, [.. ia, .. ib])
        {
            Command = CkaShards.Compare,
            Taps = a.Taps.ToString(),
            Models = [Model(a), Model(b)],
            CommandLine = commandLine ?? [],
        };
        CkaShards.Write(statePath, info, acc.Sums(), acc.BatchState());
        return info;
    }

    /// <summary>
    /// Merges the states of all N slices of one `layers --shard` computation into <paramref name="outFolder"/>: layers.json,
    /// layers.png and layers_batches.npz as one unsharded `repscope layers` writes them, without PC1 (empty Pc1Fraction,
    /// null PcOptions, no layers_pc1.png; block structure without the mean PC1 fraction of each block).
    /// </summary>
    public static Written<LayersResult> MergeLayers(IReadOnlyList<string> statePaths, string outFolder, ScoreOptions? scoreOptions = null)
    {
        var clock = Stopwatch.StartNew();
        var (total, info) = CkaShards.MergeStates(statePaths, CkaShards.Layers);
        var layers = info.Rows;
        var matrix = total.Result();
        var options = info.BlockStructureOptions is [var threshold, var minLayers] ? new BlockStructureOptions(threshold, (int)minLayers) : BlockStructureOptions.Default;
        var blocks = BlockStructure.Detect(matrix.Values, layers, null, options);
        var state = total.BatchState();
        var model = info.Models.Count == 1 ? info.Models[0] : throw new RepscopeException($"{statePaths[0]}: a layers state names {info.Models.Count} models, expected 1");
        var result = new LayersResult(model.Path, model.Architecture, info.Examples, info.BatchSize, 1, TapsOf(info, statePaths[0]), total.Batches, layers,
                                      matrix.ValueRows(), [], blocks, null, total.Warnings.Distinct().ToList(), clock.Elapsed.TotalSeconds)
        {
            BlockStructureScore = LayerSimilarity.ScoreOf(state, layers, scoreOptions),
            MergedShards = info.Shards,
        };
        Directory.CreateDirectory(outFolder);
        return LayersWorkflow.Write(result, matrix, state, outFolder);
    }

    /// <summary>Merges the states of all N slices of one `compare --shard` computation: compare_A_vs_B.json and .png in <paramref name="outFolder"/>.</summary>
    public static Written<CompareResult> MergeCompare(IReadOnlyList<string> statePaths, string outFolder)
    {
        var clock = Stopwatch.StartNew();
        var (total, info) = CkaShards.MergeStates(statePaths, CkaShards.Compare);
        if (info.Models.Count != 2) { throw new RepscopeException($"{statePaths[0]}: a compare state names {info.Models.Count} models, expected 2"); }
        var matrix = total.Result();
        var (ma, mb) = (info.Models[0], info.Models[1]);
        var result = new CompareResult(ma.Path, mb.Path, ma.Architecture, mb.Architecture, info.Examples, info.BatchSize, TapsOf(info, statePaths[0]),
                                       info.Rows, info.Columns, matrix.ValueRows(), total.Warnings.Distinct().ToList(), clock.Elapsed.TotalSeconds)
        {
            BatchState = total.BatchState(),
        };
        var names = CompareWorkflow.UniqueNames([ma.Name, mb.Name]);
        Directory.CreateDirectory(outFolder);
        return CompareWorkflow.Write(result, matrix, names[0], names[1], outFolder);
    }

    /// <summary>The minibatches of one unsharded `layers` or `compare` pass: whole batches of <paramref name="batchSize"/>, the last one possibly shorter.</summary>
    public static long Batches(long examples, int batchSize) => (examples + batchSize - 1) / batchSize;

    /// <summary>Examples [Start, Start + Count) and minibatches [First, End) of slice <paramref name="shard"/> of <paramref name="examples"/> examples.</summary>
    public static (long Start, long Count, long First, long End) Slice(long examples, int batchSize, ShardSpec shard)
    {
        var (first, end) = shard.Batches(Batches(examples, batchSize));
        long start = Math.Min(first * batchSize, examples);
        return (start, Math.Min(end * batchSize, examples) - start, first, end);
    }

    private static void CheckOptions(StreamOptions options)
    {
        options.Validate();
        if (options.Epochs != 1)
        {
            throw new RepscopeException($"{RepscopeException.Option("epochs")} {options.Epochs} cannot be split into shards: the later epochs reshuffle every example; shard one epoch");
        }
    }

    private static TapSet TapsOf(CkaStateInfo info, string path) =>
        Enum.TryParse<TapSet>(info.Taps, out var taps) ? taps : throw new RepscopeException($"{path}: tap set '{info.Taps}' unknown");

    private static ShardModel Model(IActivationSource source) => new(source.Name, source.Path, source.Architecture);

    /// <summary>What the numbers of <paramref name="source"/> come from, by content: its weights, then its examples.</summary>
    private static List<ShardInput> Identity(IActivationSource source)
    {
        switch (source)
        {
            case RunSource run:
            {
                string weights = Path.Combine(run.Directory.Path, RunFormat.ModelFile);
                return [CkaShards.Describe(weights) with { File = $"{run.Name}/{RunFormat.ModelFile}" },
                        new ShardInput($"{run.Name}: first {run.Examples} test examples", run.Examples, run.Data.Fingerprint)];
            }
            case OnnxSource onnx:
                return [CkaShards.Describe(onnx.Model.Graph.Path), new ShardInput($"{onnx.Name}: inputs {string.Join(", ", onnx.Inputs.Arrays.Keys.Order())}",
                                                                                  onnx.Examples, HashInputs(onnx.Inputs))];
            default:
                throw new RepscopeException($"{source.Path}: only runs and ONNX models can be sharded");
        }
    }

    /// <summary>SHA-256 over the input arrays (name, dtype, shape, bytes), in name order.</summary>
    private static string HashInputs(OnnxInputs inputs)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, array) in inputs.Arrays.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            hash.AppendData(Encoding.UTF8.GetBytes($"{name}|{array.DType}|{string.Join(",", array.Shape)}|"));
            const long chunk = 1L << 30;
            for (long offset = 0; offset < array.ByteLength; offset += chunk)
            {
                hash.AppendData(array.RawBytes(offset, Math.Min(chunk, array.ByteLength - offset)));
            }
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
