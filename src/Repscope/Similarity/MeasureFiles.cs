using Repscope.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Similarity;

/// <summary>What <see cref="MeasureFiles.Heatmap"/> returns: the map, the number of examples and how it was computed.</summary>
public sealed record MeasureHeatmapResult(MeasureMatrix Map, long N);

/// <summary>
/// The measures other than minibatch CKA (<see cref="CkaFiles"/>) on activations made anywhere
/// (.npy / .npz, rows = examples), loaded and checked as <see cref="CkaFiles"/> does. Whole data.
/// </summary>
public static class MeasureFiles
{
    /// <summary>The measure of two .npy files; NaN with a reason when undefined.</summary>
    public static MeasureResult Pair(string x, string y, SimilarityMeasure measure, MeasureOptions? options = null)
    {
        var a = CkaFiles.LoadNpy(x);
        var b = CkaFiles.LoadNpy(y);
        try { return Measures.Compute(measure, a.Data, b.Data, options, x, y); }
        finally
        {
            a.Data.Dispose();
            b.Data.Dispose();
        }
    }

    /// <summary>
    /// All pairs of the arrays of one .npz (or of two) under <paramref name="measure"/>, on the whole data. CKA loads
    /// every array (<see cref="Measures.AllPairs"/>); the other measures read one array at a time, decompose it and
    /// release it, so that memory holds the kept bases plus one array.
    /// </summary>
    public static MeasureHeatmapResult Heatmap(string a, string? b, SimilarityMeasure measure, MeasureOptions? options = null,
                                               IProgressReporter? progress = null)
    {
        progress ??= ProgressReporter.None;
        options = (options ?? MeasureOptions.Default).Validated();
        if (measure == SimilarityMeasure.Cka)
        {
            var rows = CkaFiles.LoadNpz(a);
            var cols = b is null ? null : CkaFiles.LoadNpz(b);
            try
            {
                long n0 = rows[0].Data.shape[0];
                CheckRows(b, cols?[0].Data.shape[0], a, n0);
                var cka = Measures.AllPairs(measure, rows.Select(l => l.Data).ToArray(), rows.Select(l => l.Name).ToArray(),
                                            cols?.Select(l => l.Data).ToArray(), cols?.Select(l => l.Name).ToArray(), options, progress);
                return new MeasureHeatmapResult(cka, n0);
            }
            finally
            {
                foreach (var l in rows.Concat(cols ?? [])) { l.Data.Dispose(); }
            }
        }
        var infoA = Npz.ReadInfo(a);
        var infoB = b is null ? null : Npz.ReadInfo(b);
        if (infoA.Count == 0) { throw new RepscopeException($"{a}: no arrays"); }
        if (infoB is { Count: 0 }) { throw new RepscopeException($"{b}: no arrays"); }
        long n = infoA[0].Shape.Length == 0 ? 1 : infoA[0].Shape[0];
        var map = Measures.AllPairsOfLayers(measure, Layers(a, n, a), infoA.Count, b is null ? null : Layers(b, n, a), infoB?.Count ?? 0,
                                            release: true, n, options, progress);
        return new MeasureHeatmapResult(map, n);
    }

    /// <summary>The arrays of <paramref name="path"/> one at a time, each checked (n rows, finite) and copied into a tensor.</summary>
    private static IEnumerable<(Tensor, string)> Layers(string path, long n, string first)
    {
        foreach (var array in Npz.Enumerate(path, releaseBetweenMembers: true))
        {
            string source = $"{path}: array '{array.Name}'";
            if (array.Rank > 0 && array.Rows != n)
            {
                throw new RepscopeException($"{source} has {array.Rows} rows (examples), {first} has {n} per array; the measures need the same examples in the same order");
            }
            yield return (CkaFiles.ToLayerTensor(array, source), array.Name);
        }
    }

    private static void CheckRows(string? b, long? nb, string a, long n)
    {
        if (b is not null && nb != n)
        {
            throw new RepscopeException($"{b} has {nb} examples (rows) per array but {a} has {n}; the measures need the same examples in the same order");
        }
    }
}
