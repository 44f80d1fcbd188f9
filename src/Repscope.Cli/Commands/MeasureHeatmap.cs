using Repscope.Reporting;
using Repscope.Similarity;

namespace Repscope.Cli.Commands;

/// <summary><c>repscope heatmap A.npz [B.npz] --measure M</c> for the whole-data measures (everything but CKA).</summary>
internal static class MeasureHeatmap
{
    public static int Run(Terminal terminal, string a, string? b, string outFolder, SimilarityMeasure measure, int? batchSize)
    {
        string name = measure.ToString().ToLowerInvariant();
        if (batchSize is not null) { throw new RepscopeException($"--batch-size applies to --measure cka only; {name} needs the whole data"); }
        var result = terminal.WithProgress(p => MeasureFiles.Heatmap(a, b, measure, progress: p));
        var map = result.Map;
        string json = Path.Combine(outFolder, $"{name}.json");
        string png = Path.Combine(outFolder, $"{name}.png");
        map.Matrix.WriteJson(json);
        string label = Measures.Describe(measure);
        string title = b is null ? $"{label} between the layers of {Path.GetFileName(a)}" : $"{label}: {Path.GetFileName(a)} vs {Path.GetFileName(b)}";
        Heatmap.Save(png, map.Matrix, title, new HeatmapOptions
        {
            RowAxisLabel = $"{Path.GetFileName(a)} layer" + (measure == SimilarityMeasure.Pwcca ? " (weights)" : ""),
            ColumnAxisLabel = $"{Path.GetFileName(b ?? a)} layer",
            Subtitle = map.Description,
            ColourBarLabel = Measures.Label(measure),
        });
        terminal.WriteLine($"{map.Matrix.Rows.Count} x {map.Matrix.Columns.Count} map, {map.Description}");
        terminal.WriteLine($"wrote {json}");
        terminal.WriteLine($"wrote {png}");
        // Undefined layers (constant, or p >= n for R2CCA / PWCCA): the map is written with null / grey there,
        // each reason is one line, and the exit code says the map is incomplete.
        foreach (string reason in map.Undefined) { terminal.Fail($"{(b is null ? a : $"{a} / {b}")}: {reason}"); }
        return map.Undefined.Count > 0 ? ExitCode.UserError : 0;
    }
}
