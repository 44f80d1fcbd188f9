using Repscope.Analysis;
using Repscope.Models;
using ScottPlot;

namespace Repscope.Reporting;

/// <summary>
/// The report section "is it the measure or the network?": one run's within-model map under each measure of
/// <see cref="MeasureRobustness"/>, side by side with each best block-structure square outlined, a table of the
/// scores and the sentence with the numbers. Self-contained: the report writer only adds the section it returns.
/// </summary>
public static class MeasureRobustnessSection
{
    public static ReportSection Build(MeasureRobustnessResult r, FigureSource source, string id = "measures",
                                      string title = "Block structure under other similarity measures")
    {
        var boundaries = LayerNames.StageBoundaries(r.Layers);
        var figures = r.Maps.Select(m =>
        {
            var options = new HeatmapOptions
            {
                RowBoundaries = boundaries, ColumnBoundaries = boundaries,
                Squares = m.Score.Found ? [HeatmapSquare.Diagonal(m.Score.First, m.Score.Last)] : [],
                Subtitle = m.Description, ColourBarLabel = m.Name,
            };
            var plot = Heatmap.Build(m.Map, m.Name, options, out int width, out int height);
            byte[] png = plot.GetImageBytes(options.Width ?? width, options.Height ?? height, ImageFormat.Png);
            string caption = m.Score.Found
                ? $"Best square {m.Score.FirstLayer}..{m.Score.LastLayer}, strength {m.Score.Strength:F3}."
                : "No square brighter than the block-free reference.";
            return new ReportFigure($"{id}-{Slug(m.Name)}", $"{m.Name}, {r.Examples} examples", png, source, caption, m);
        }).ToList();
        var table = new ReportTable(
            "Block structure per measure (strength: BlockStructureScore; level: the largest threshold at which a run of 4 layers is coherent; " +
            "overlap: Jaccard of the best square's layers with linear CKA's; rank correlation: Spearman of the off-diagonal entries with linear CKA's)",
            ["measure", "best square", "strength", "level", "overlap with linear CKA", "rank correlation with linear CKA", "undefined"],
            r.Maps.Select(m => (IReadOnlyList<string>)
            [
                m.Name, $"{m.Score.FirstLayer}..{m.Score.LastLayer} ({m.Score.Length})", $"{m.Score.Strength:F3}", $"{m.Level:F2}",
                $"{m.OverlapWithLinearCka:F2}", $"{m.RankCorrelationWithLinearCka:F2}", m.Undefined.Count == 0 ? "none" : string.Join("; ", m.Undefined),
            ]).ToList());
        return new ReportSection(id, title, r.Sentence, figures, [table],
            ["All maps use the whole data of the same examples (CKA with the biased HSIC); definitions in docs/measures.md. " +
             "Block-structure thresholds were set for CKA, so compare strength, level, overlap and rank correlation, not whether a block passes 0.9."])
        { Columns = 2 };
    }

    private static string Slug(string name) => new(name.ToLowerInvariant().Select(c => char.IsLetterOrDigit(c) ? c : '-').ToArray());
}
