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

    /// <summary>All pairs of the arrays of one .npz (or of two) under <paramref name="measure"/>, on the whole data.</summary>
    public static MeasureHeatmapResult Heatmap(string a, string? b, SimilarityMeasure measure, MeasureOptions? options = null,
                                               IProgressReporter? progress = null)
    {
        var rows = CkaFiles.LoadNpz(a);
        var cols = b is null ? null : CkaFiles.LoadNpz(b);
        try
        {
            long n = rows[0].Data.shape[0];
            if (cols is not null && cols[0].Data.shape[0] != n)
            {
                throw new RepscopeException($"{b} has {cols[0].Data.shape[0]} examples (rows) per array but {a} has {n}; the measures need the same examples in the same order");
            }
            var map = Measures.AllPairs(measure, rows.Select(l => l.Data).ToArray(), rows.Select(l => l.Name).ToArray(),
                                        cols?.Select(l => l.Data).ToArray(), cols?.Select(l => l.Name).ToArray(), options, progress);
            return new MeasureHeatmapResult(map, n);
        }
        finally
        {
            foreach (var l in rows.Concat(cols ?? [])) { l.Data.Dispose(); }
        }
    }
}
