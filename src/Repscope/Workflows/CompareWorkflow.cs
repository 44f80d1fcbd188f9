using System.Diagnostics;
using Repscope.Analysis;
using Repscope.Models;

namespace Repscope.Workflows;

/// <summary>compare_A_vs_B.json: the cross-model CKA map of two runs.</summary>
public sealed record CompareResult(string RunA, string RunB, string ArchitectureA, string ArchitectureB, long Examples, int BatchSize, TapSet Taps,
                                   IReadOnlyList<string> RowLayers, IReadOnlyList<string> ColumnLayers, double[][] Cka,
                                   IReadOnlyList<string> Warnings, double Seconds);

/// <summary>
/// `repscope compare`: for every pair of runs (evaluated on the same test examples), streams the examples through both
/// models together and computes minibatch CKA between every tap of one and every tap of the other
/// (<see cref="LayerSimilarity.CrossModel"/>); writes compare_A_vs_B.json and .png into the output folder, where A and B
/// are the runs' folder names (made unique with -1, -2, ... by position when two are equal).
/// </summary>
public static class CompareWorkflow
{
    /// <summary>The file name (without extension) of the map of <paramref name="nameA"/> against <paramref name="nameB"/>.</summary>
    public static string FileStem(string nameA, string nameB) => $"compare_{nameA}_vs_{nameB}";

    /// <summary>One map per pair of runs (a, b) with a before b in <paramref name="runs"/>; files: the JSON, then the heatmap.</summary>
    public static IReadOnlyList<Written<CompareResult>> Run(IReadOnlyList<string> runs, string outFolder, StreamOptions options,
                                                            IProgressReporter? progress = null)
    {
        options.Validate();
        if (runs.Count < 2) { throw new RepscopeException("compare needs at least two runs"); }
        progress ??= ProgressReporter.None;
        var written = new List<Written<CompareResult>>();
        var names = UniqueNames(runs);
        for (int a = 0; a < runs.Count; a++)
        {
            for (int b = a + 1; b < runs.Count; b++)
            {
                written.Add(Pair(runs[a], runs[b], names[a], names[b], outFolder, options, progress));
            }
        }
        return written;
    }

    private static Written<CompareResult> Pair(string runA, string runB, string nameA, string nameB, string outFolder, StreamOptions options,
                                               IProgressReporter progress)
    {
        var clock = Stopwatch.StartNew();
        using var inputA = RunInput.Open(runA, options.Examples);
        using var inputB = RunInput.Open(runB, options.Examples);
        var (modelA, dataA, modelB, dataB) = (inputA.Model, inputA.Data, inputB.Model, inputB.Data);
        if (dataA.Fingerprint != dataB.Fingerprint || dataA.Count != dataB.Count)
        {
            throw new RepscopeException($"{runA} and {runB} were evaluated on different test examples (fingerprints {dataA.Fingerprint[..Math.Min(12, dataA.Fingerprint.Length)]} and {dataB.Fingerprint[..Math.Min(12, dataB.Fingerprint.Length)]}); CKA needs the same examples");
        }
        var rows = modelA.TapNames(options.Taps);
        var columns = modelB.TapNames(options.Taps);
        // Each batch of A's pass is run through B as well, so both models see the same examples together.
        var matrix = LayerSimilarity.CrossModel(rows, columns, onBatch =>
        {
            long offset = 0;
            Activations.Stream(modelA, dataA, options.BatchSize, options.Taps, (labels, tapsA) =>
            {
                var indices = Enumerable.Range(0, labels.Length).Select(i => offset + i).ToArray();
                using var chunk = dataB.Subset(indices);
                Activations.Stream(modelB, chunk, labels.Length, options.Taps, (_, tapsB) => onBatch(tapsA, tapsB));
                offset += labels.Length;
            }, progress);
        }, out var warnings);
        var result = new CompareResult(runA, runB, modelA.Architecture, modelB.Architecture, dataA.Count, options.BatchSize,
                                       options.Taps, rows, columns, matrix.ValueRows(), warnings, clock.Elapsed.TotalSeconds);
        string stem = Path.Combine(outFolder, FileStem(nameA, nameB));
        string json = stem + ".json", heatmap = stem + ".png";
        AtomicFile.WriteJson(json, result);
        AnalysisPlots.CrossModelHeatmap(heatmap, matrix, $"CKA: {modelA.Architecture} vs {modelB.Architecture}",
                                        $"{nameA}: {modelA.Architecture}", $"{nameB}: {modelB.Architecture}");
        return new Written<CompareResult>(result, [json, heatmap]);
    }

    private static string[] UniqueNames(IReadOnlyList<string> runs)
    {
        var folders = runs.Select(r => Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(r)))).ToArray();
        return folders.Select((name, i) => folders.Count(n => n == name) > 1 ? $"{name}-{i + 1}" : name).ToArray();
    }
}
