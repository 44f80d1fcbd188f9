using System.Diagnostics;
using Repscope.Analysis;
using Repscope.Models;
using Repscope.Similarity;
using static TorchSharp.torch;

namespace Repscope.Workflows;

/// <summary>compare_A_vs_B.json: the cross-model CKA map of two runs.</summary>
public sealed record CompareResult(string RunA, string RunB, string ArchitectureA, string ArchitectureB, long Examples, int BatchSize, TapSet Taps,
                                   IReadOnlyList<string> RowLayers, IReadOnlyList<string> ColumnLayers, double[][] Cka,
                                   IReadOnlyList<string> Warnings, double Seconds)
{
    /// <summary>Each minibatch's HSIC values behind <see cref="Cka"/>: resampling them bootstraps the map over test examples. Not in JSON.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public CkaBatchState? BatchState { get; init; }

    /// <summary>The measure of <see cref="Cka"/> and its settings: minibatch linear CKA (null in files written before it was recorded).</summary>
    public MapMeasure? Measure { get; init; }
}

/// <summary>
/// compare_A_vs_B_MEASURE.json: the cross-model map of two runs (or models) under a whole-data measure (not CKA).
/// <c>Values[i][j]</c> is measure(A's layer i, B's layer j), null where undefined; for PWCCA the weights come from A's layer.
/// </summary>
public sealed record CompareMeasureResult(string RunA, string RunB, string ArchitectureA, string ArchitectureB, long Examples, TapSet Taps,
                                          IReadOnlyList<string> RowLayers, IReadOnlyList<string> ColumnLayers, MapMeasure Measure,
                                          double[][] Values, IReadOnlyList<string> Undefined, double Seconds);

/// <summary>
/// `repscope compare`: for every pair of runs (evaluated on the same test examples), streams the examples through both
/// models together and computes minibatch CKA between every tap of one and every tap of the other
/// (<see cref="LayerSimilarity.CrossModel"/>); writes compare_A_vs_B.json and .png into the output folder, where A and B
/// are the runs' folder names (ONNX models: file names) (made unique with -1, -2, ... by position when two are equal).
/// </summary>
public static class CompareWorkflow
{
    /// <summary>The file name (without extension) of the map of <paramref name="nameA"/> against <paramref name="nameB"/>.</summary>
    public static string FileStem(string nameA, string nameB) => $"compare_{nameA}_vs_{nameB}";

    /// <summary>
    /// One map per pair of runs (a, b) with a before b in <paramref name="runs"/>; files: the JSON, then the heatmap.
    /// The runs must have been evaluated on the same test examples (same fingerprint).
    /// </summary>
    public static IReadOnlyList<Written<CompareResult>> Run(IReadOnlyList<string> runs, string outFolder, StreamOptions options,
                                                            IProgressReporter? progress = null) =>
        OverRuns(runs, options, (sa, sb, na, nb) => Pair(sa, sb, na, nb, outFolder, options, progress ?? ProgressReporter.None));

    /// <summary>
    /// The same under a whole-data measure (cca, svcca, pwcca, procrustes, rsa; docs/measures.md): one map per pair of runs,
    /// written as compare_A_vs_B_MEASURE.json and .png (<see cref="MeasureMaps.CrossModel"/>: one decomposition per layer).
    /// </summary>
    public static IReadOnlyList<Written<CompareMeasureResult>> Run(IReadOnlyList<string> runs, string outFolder, StreamOptions options,
                                                                   SimilarityMeasure measure, MeasureOptions? measureOptions = null,
                                                                   IProgressReporter? progress = null)
    {
        var checkedOptions = CheckMeasure(measure, measureOptions);
        return OverRuns(runs, options, (sa, sb, na, nb) => MeasurePair(sa, sb, na, nb, outFolder, options, measure, checkedOptions, progress ?? ProgressReporter.None));
    }

    private static IReadOnlyList<Written<T>> OverRuns<T>(IReadOnlyList<string> runs, StreamOptions options,
                                                         Func<IActivationSource, IActivationSource, string, string, Written<T>> pair)
    {
        options.Validate();
        if (runs.Count < 2) { throw new RepscopeException("compare needs at least two runs"); }
        var names = UniqueNames(runs.Select(r => Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(r)))).ToList());
        var written = new List<Written<T>>();
        for (int a = 0; a < runs.Count; a++)
        {
            for (int b = a + 1; b < runs.Count; b++)
            {
                // Two runs open at a time: memory stays that of one pair whatever the number of runs.
                using var sa = new RunSource(runs[a], options);
                using var sb = new RunSource(runs[b], options);
                var (da, db) = (sa.Data, sb.Data);
                if (da.Fingerprint != db.Fingerprint || da.Count != db.Count)
                {
                    throw new RepscopeException($"{runs[a]} and {runs[b]} were evaluated on different test examples (fingerprints {da.Fingerprint[..Math.Min(12, da.Fingerprint.Length)]} and {db.Fingerprint[..Math.Min(12, db.Fingerprint.Length)]}); CKA needs the same examples");
                }
                written.Add(pair(sa, sb, names[a], names[b]));
            }
        }
        return written;
    }

    /// <summary>One map per pair of sources (runs or ONNX models) with the same number of examples.</summary>
    public static IReadOnlyList<Written<CompareResult>> Run(IReadOnlyList<IActivationSource> sources, string outFolder, StreamOptions options,
                                                            IProgressReporter? progress = null) =>
        OverSources(sources, options, (sa, sb, na, nb) => Pair(sa, sb, na, nb, outFolder, options, progress ?? ProgressReporter.None));

    /// <summary>The same under a whole-data measure: compare_A_vs_B_MEASURE.json and .png per pair of sources.</summary>
    public static IReadOnlyList<Written<CompareMeasureResult>> Run(IReadOnlyList<IActivationSource> sources, string outFolder, StreamOptions options,
                                                                   SimilarityMeasure measure, MeasureOptions? measureOptions = null,
                                                                   IProgressReporter? progress = null)
    {
        var checkedOptions = CheckMeasure(measure, measureOptions);
        return OverSources(sources, options, (sa, sb, na, nb) => MeasurePair(sa, sb, na, nb, outFolder, options, measure, checkedOptions, progress ?? ProgressReporter.None));
    }

    private static IReadOnlyList<Written<T>> OverSources<T>(IReadOnlyList<IActivationSource> sources, StreamOptions options,
                                                            Func<IActivationSource, IActivationSource, string, string, Written<T>> pair)
    {
        options.Validate();
        if (sources.Count < 2) { throw new RepscopeException("compare needs at least two models"); }
        for (int i = 1; i < sources.Count; i++)
        {
            if (sources[i].Examples != sources[0].Examples)
            {
                throw new RepscopeException($"{sources[i].Path} has {sources[i].Examples} examples, {sources[0].Path} has {sources[0].Examples}; CKA needs the same examples (use {RepscopeException.Option("examples")} N)");
            }
        }
        var names = UniqueNames(sources.Select(s => s.Name).ToList());
        var written = new List<Written<T>>();
        for (int a = 0; a < sources.Count; a++)
        {
            for (int b = a + 1; b < sources.Count; b++) { written.Add(pair(sources[a], sources[b], names[a], names[b])); }
        }
        return written;
    }

    private static MeasureOptions CheckMeasure(SimilarityMeasure measure, MeasureOptions? options)
    {
        if (measure == SimilarityMeasure.Cka) { throw new RepscopeException("measure: CKA streams in minibatches: compare without a measure"); }
        return (options ?? MeasureOptions.Default).Validated();
    }

    private static Written<CompareMeasureResult> MeasurePair(IActivationSource sa, IActivationSource sb, string nameA, string nameB, string outFolder,
                                                             StreamOptions options, SimilarityMeasure measure, MeasureOptions measureOptions,
                                                             IProgressReporter progress)
    {
        var clock = Stopwatch.StartNew();
        var map = MeasureMaps.CrossModel(sa, sb, measure, measureOptions, options.BatchSize, progress);
        var result = new CompareMeasureResult(sa.Path, sb.Path, sa.Architecture, sb.Architecture, sa.Examples, sa.Taps, sa.Layers, sb.Layers,
                                              MapMeasure.WholeData(measure, measureOptions, sa.Examples, MeasureMaps.DefaultBudgetBytes),
                                              map.Matrix.ValueRows(), map.Undefined, clock.Elapsed.TotalSeconds);
        string stem = Path.Combine(outFolder, $"{FileStem(nameA, nameB)}_{measure.ToString().ToLowerInvariant()}");
        string json = stem + ".json", heatmap = stem + ".png";
        AtomicFile.WriteJson(json, result);
        AnalysisPlots.MeasureHeatmap(heatmap, map, $"{Measures.Label(measure)}: {sa.Architecture} vs {sb.Architecture}", null,
                                     $"{nameA}: {sa.Architecture}", $"{nameB}: {sb.Architecture}");
        return new Written<CompareMeasureResult>(result, [json, heatmap]);
    }

    private static Written<CompareResult> Pair(IActivationSource sa, IActivationSource sb, string nameA, string nameB, string outFolder,
                                               StreamOptions options, IProgressReporter progress)
    {
        var clock = Stopwatch.StartNew();
        var matrix = LayerSimilarity.CrossModel(sa.Layers, sb.Layers, PairedPass(sa, sb, 0, sa.Examples, options.BatchSize, progress),
                                                out var warnings, out var batches);
        var result = new CompareResult(sa.Path, sb.Path, sa.Architecture, sb.Architecture, sa.Examples, options.BatchSize,
                                       sa.Taps, sa.Layers, sb.Layers, matrix.ValueRows(), warnings, clock.Elapsed.TotalSeconds)
        {
            BatchState = batches,
            Measure = MapMeasure.MinibatchCka(options.BatchSize),
        };
        return Write(result, matrix, nameA, nameB, outFolder);
    }

    /// <summary>
    /// Examples [<paramref name="start"/>, start + <paramref name="count"/>) in minibatches of <paramref name="batchSize"/>:
    /// each batch of A's pass is run through B as well, so both models see the same examples together.
    /// </summary>
    public static Action<Action<IReadOnlyList<Tensor>, IReadOnlyList<Tensor>>> PairedPass(IActivationSource sa, IActivationSource sb, long start, long count,
                                                                                           int batchSize, IProgressReporter progress) => onBatch =>
    {
        long offset = start;
        sa.Pass(start, count, batchSize, progress)((labels, tapsA) =>
        {
            sb.Pass(offset, labels.Length, labels.Length, ProgressReporter.None)((_, tapsB) => onBatch(tapsA, tapsB));
            offset += labels.Length;
        });
    };

    /// <summary>Writes compare_A_vs_B.json and .png (A, B: <paramref name="nameA"/>, <paramref name="nameB"/>) into <paramref name="outFolder"/>.</summary>
    public static Written<CompareResult> Write(CompareResult result, CkaMatrix matrix, string nameA, string nameB, string outFolder)
    {
        string stem = Path.Combine(outFolder, FileStem(nameA, nameB));
        string json = stem + ".json", heatmap = stem + ".png";
        AtomicFile.WriteJson(json, result);
        AnalysisPlots.CrossModelHeatmap(heatmap, matrix, $"CKA: {result.ArchitectureA} vs {result.ArchitectureB}",
                                        $"{nameA}: {result.ArchitectureA}", $"{nameB}: {result.ArchitectureB}");
        return new Written<CompareResult>(result, [json, heatmap]);
    }

    /// <summary>The names as given, with -1, -2, ... (by position) appended where two are equal.</summary>
    public static string[] UniqueNames(IReadOnlyList<string> names) =>
        names.Select((name, i) => names.Count(n => n == name) > 1 ? $"{name}-{i + 1}" : name).ToArray();
}
