using Repscope.Analysis;
using Repscope.Models;
using Repscope.Reporting;
using Repscope.Similarity;
using ScottPlot;
using PlotStyle = Repscope.Reporting.PlotStyle;

namespace Repscope.Workflows;

/// <summary>The figures of the analyses: heatmaps with stages and blocks marked, and quantities across depth.</summary>
public static class AnalysisPlots
{
    private static readonly Color BlockShade = Color.FromHex("#d62728").WithAlpha(0.12);

    /// <summary>
    /// A within-model heatmap with stage boundaries (dashed white), blocks over the threshold (red squares) and, given
    /// <paramref name="score"/>, the best square of the relative block-structure score (dashed orange, "S") with its
    /// strength and interval in the subtitle.
    /// </summary>
    public static void WithinModelHeatmap(string path, CkaMatrix m, string title, BlockStructureResult? blocks, string colourBar = "CKA",
                                          BlockStructureScoreBootstrap? score = null)
    {
        var boundaries = LayerNames.StageBoundaries(m.Rows);
        var squares = blocks?.Spans.Select((b, k) => HeatmapSquare.Diagonal(b.First, b.Last, $"B{k + 1}")).ToList() ?? [];
        if (score is { Point.Found: true }) { squares.Add(HeatmapSquare.Diagonal(score.Point.First, score.Point.Last, "S") with { Colour = ScoreColour, Dashed = true }); }
        Heatmap.Save(path, m, title, new HeatmapOptions
        {
            RowBoundaries = boundaries,
            ColumnBoundaries = boundaries,
            Squares = squares,
            ColourBarLabel = colourBar,
            Subtitle = WithinModelSubtitle(blocks, score),
        });
    }

    /// <summary>The within-model heatmap's caption under its title: every detected block structure (B1, B2, ...: all of
    /// them, not only the first) and the score's best square with its strength.</summary>
    public static string? WithinModelSubtitle(BlockStructureResult? blocks, BlockStructureScoreBootstrap? score)
    {
        var lines = new[] { blocks is null ? null : AnalysisText.BlockStructureList(blocks, perLine: 2), score is null ? null : ScoreText(score) }.OfType<string>().ToList();
        return lines.Count == 0 ? null : string.Join("\n", lines);
    }

    private const string ScoreColour = "#FF7F0E";

    /// <summary>"block-structure strength 0.231 [0.180, 0.270] (S: layers a..b, 40 % of layers)": one line for a figure.</summary>
    public static string ScoreText(BlockStructureScoreBootstrap score)
    {
        string ci = score.Strength.Undefined is null ? FormattableString.Invariant($" [{score.Strength.Low:F3}, {score.Strength.High:F3}]") : "";
        var p = score.Point;
        return p.Found
            ? FormattableString.Invariant($"block-structure strength {p.Strength:F3}{ci} (S, dashed: {p.FirstLayer}..{p.LastLayer}, {p.Coverage:P0} of layers)")
            : FormattableString.Invariant($"block-structure strength {p.Strength:F3}{ci}: no square brighter than the reference");
    }

    /// <summary>
    /// A map under a whole-data measure (docs/measures.md): stage boundaries, the measure in the colour bar and subtitle and, for a
    /// within-model map given its <paramref name="score"/>, the best block-structure square (dashed orange, "S"). PWCCA's row axis
    /// says that the weights come from the row layer.
    /// </summary>
    public static void MeasureHeatmap(string path, MeasureMatrix map, string title, BlockStructureScoreResult? score = null,
                                      string rowModel = "layer", string columnModel = "layer")
    {
        var m = map.Matrix;
        var found = score is { Found: true } ? score : null;
        Heatmap.Save(path, m, title, new HeatmapOptions
        {
            RowBoundaries = LayerNames.StageBoundaries(m.Rows),
            ColumnBoundaries = LayerNames.StageBoundaries(m.Columns),
            Squares = found is null ? [] : [HeatmapSquare.Diagonal(found.First, found.Last, "S") with { Colour = ScoreColour, Dashed = true }],
            RowAxisLabel = rowModel + (map.Measure == SimilarityMeasure.Pwcca ? " (PWCCA weights)" : ""),
            ColumnAxisLabel = columnModel,
            Subtitle = map.Description + (found is null ? "" : FormattableString.Invariant($"; block-structure strength {found.Strength:F3} (S: {found.FirstLayer}..{found.LastLayer})")),
            ColourBarLabel = Measures.Label(map.Measure),
        });
    }

    /// <summary>A cross-model heatmap with both models' stage boundaries.</summary>
    public static void CrossModelHeatmap(string path, CkaMatrix m, string title, string rowModel, string columnModel) =>
        Heatmap.Save(path, m, title, new HeatmapOptions
        {
            RowBoundaries = LayerNames.StageBoundaries(m.Rows),
            ColumnBoundaries = LayerNames.StageBoundaries(m.Columns),
            RowAxisLabel = rowModel,
            ColumnAxisLabel = columnModel,
        });

    /// <summary>One or more quantities per layer (x: layer, in forward order), detected blocks shaded, stages dashed.</summary>
    public static void AcrossDepth(string path, string title, string yLabel, IReadOnlyList<string> layers,
                                   IReadOnlyList<(string Label, IReadOnlyList<double> Values)> series,
                                   BlockStructureResult? blocks, (double Min, double Max)? yLimits = null)
    {
        var plot = new Plot();
        PlotStyle.Apply(plot);
        plot.Title(title);
        plot.XLabel("layer");
        plot.YLabel(yLabel);
        foreach (var b in blocks?.Spans ?? [])
        {
            var span = plot.Add.HorizontalSpan(b.First - 0.5, b.Last + 0.5);
            span.FillStyle.Color = BlockShade;
            span.LineStyle.Width = 1;                       // a thin edge keeps adjacent blocks apart
            span.LineStyle.Color = Color.FromHex("#d62728").WithAlpha(0.6);
        }
        foreach (int s in LayerNames.StageBoundaries(layers))
        {
            var line = plot.Add.VerticalLine(s - 0.5, 1, Colors.Gray);
            line.LinePattern = LinePattern.Dashed;
        }
        var palette = new ScottPlot.Palettes.Category10();
        for (int k = 0; k < series.Count; k++)
        {
            var (label, values) = series[k];
            var xs = new List<double>();
            var ys = new List<double>();
            for (int i = 0; i < values.Count; i++)
            {
                if (double.IsFinite(values[i])) { xs.Add(i); ys.Add(values[i]); }
            }
            var sc = plot.Add.Scatter(xs.ToArray(), ys.ToArray(), palette.GetColor(k));
            sc.LegendText = label;
            sc.MarkerSize = 6;
            sc.LineWidth = 2;
        }
        if ((blocks?.Found ?? false))
        {
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = "block structure", FillColor = BlockShade });
        }
        plot.ShowLegend(Alignment.LowerLeft);
        TickLayers(plot, layers);
        if (yLimits is { } y) { plot.Axes.SetLimitsY(y.Min, y.Max); }
        plot.Axes.SetLimitsX(-0.5, layers.Count - 0.5);
        PlotStyle.SavePng(plot, path, Math.Max(800, 60 + 22 * layers.Count), 560 + 7 * layers.Max(l => l.Length));
    }

    /// <summary>
    /// Probe accuracy across depth: x = the stem and the residual block outputs; a block's branch (before the addition)
    /// is drawn at its block's position. <paramref name="blockStructure"/> (found on any layer list) is shaded where its ends lie on that axis.
    /// </summary>
    public static void ProbeAccuracy(string path, string title, IReadOnlyList<LayerProbe> probes, IReadOnlyList<BlockStructureSpan> blockStructure)
    {
        var axis = probes.Select(p => p.Layer).Where(l => !LayerNames.IsBranch(l)).ToList();
        var byName = probes.ToDictionary(p => p.Layer, p => p.Result.TestAccuracy);
        var outputs = axis.Select(l => byName[l]).ToList();
        var branches = axis.Select(l => byName.TryGetValue(l + ".branch", out double v) ? v : double.NaN).ToList();
        AcrossDepth(path, title, "held-out accuracy", axis,
                    [("block output (after the addition)", outputs), ("branch (before the addition)", branches)],
                    BlockStructure.OnAxis(axis, blockStructure), (0, 1));
    }

    /// <summary>Accuracy against the number of blocks deleted from the end of each stage; deletions inside the block structure in red.</summary>
    public static void Pruning(string path, string title, PruningResult r)
    {
        var plot = new Plot();
        PlotStyle.Apply(plot);
        plot.Title(title);
        plot.XLabel("blocks deleted from the end of the stage");
        plot.YLabel("test accuracy");
        var palette = new ScottPlot.Palettes.Category10();
        int k = 0;
        bool blockLegend = false;
        foreach (var stage in r.Steps.GroupBy(s => s.Stage).OrderBy(g => g.Key))
        {
            var xs = new[] { 0.0 }.Concat(stage.Select(s => (double)s.Deleted)).ToArray();
            var ys = new[] { r.Baseline }.Concat(stage.Select(s => s.Accuracy)).ToArray();
            var sc = plot.Add.Scatter(xs, ys, palette.GetColor(k));
            sc.LegendText = $"stage {stage.Key}";
            sc.LineWidth = 2;
            sc.MarkerSize = 6;
            if (r.RefitBaseline is not null)
            {
                var refit = plot.Add.Scatter(xs, new[] { r.RefitBaseline.Value }.Concat(stage.Select(s => s.RefitAccuracy ?? double.NaN)).ToArray(), palette.GetColor(k));
                refit.LegendText = $"stage {stage.Key}, head re-fitted";
                refit.LinePattern = LinePattern.Dashed;
                refit.MarkerSize = 4;
            }
            var inBlock = stage.Where(s => s.InBlockStructure).ToList();
            if (inBlock.Count > 0)
            {
                var m = plot.Add.Markers(inBlock.Select(s => (double)s.Deleted).ToArray(), inBlock.Select(s => s.Accuracy).ToArray(), MarkerShape.OpenCircle, 14, Colors.Red);
                if (!blockLegend) { m.LegendText = "deleted block lies in the block structure"; blockLegend = true; }
            }
            k++;
        }
        plot.ShowLegend(Alignment.LowerLeft);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(1);
        plot.Axes.SetLimitsY(0, 1);
        PlotStyle.SavePng(plot, path, 900, 600);
    }

    private static void TickLayers(Plot plot, IReadOnlyList<string> layers)
    {
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, layers.Count).Select(i => (double)i).ToArray(), layers.ToArray());
        plot.Axes.Bottom.TickLabelStyle.Rotation = -90;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleRight;
        plot.Axes.Bottom.MinimumSize = 20 + 7.5f * layers.Max(l => l.Length);
        plot.Grid.XAxisStyle.IsVisible = false;
    }
}
