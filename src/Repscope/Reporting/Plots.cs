using ScottPlot;

namespace Repscope.Reporting;

/// <summary>One set of points (scatter) or one curve (lines), with its legend text.</summary>
public sealed record Series(string Label, IReadOnlyList<double> X, IReadOnlyList<double> Y)
{
    /// <summary>Marker size in pixels for scatter plots (lines: marker size, 0 for none).</summary>
    public float MarkerSize { get; init; } = 5;
    /// <summary>Opacity of the markers, 0..1 (lower for thousands of overlapping points).</summary>
    public double Opacity { get; init; } = 1;
    /// <summary>Optional colour as "#rrggbb"; default: the next colour of the palette.</summary>
    public string? Color { get; init; }
}

/// <summary>One bar per category; optional error bars (same units) and highlighted bars (drawn in the accent colour).</summary>
public sealed record BarSeries(string Label, IReadOnlyList<double> Values, IReadOnlyList<double>? Errors = null, IReadOnlyList<bool>? Highlight = null);

/// <summary>One row of a forest plot: a label, an effect with its interval (NaN: none), the paper's smallest effect and the verdict (the colour).</summary>
public sealed record ForestRow(string Label, double Effect, double Low, double High, double PaperEffect, Verdict Verdict);

/// <summary>One panel of a multi-panel scatter figure.</summary>
public sealed record ScatterPanel(string Title, string XLabel, string YLabel, IReadOnlyList<Series> Series);

/// <summary>Figure options shared by every plot kind.</summary>
public sealed record PlotOptions
{
    public int Width { get; init; } = 900;
    public int Height { get; init; } = 650;
    /// <summary>Draw the y = x diagonal (scatter of one quantity against another).</summary>
    public bool Diagonal { get; init; }
    /// <summary>Fixed axis ranges; null: fit the data.</summary>
    public (double Min, double Max)? XLimits { get; init; }
    public (double Min, double Max)? YLimits { get; init; }
    /// <summary>Legend in the upper left, when there is more than one series (or always when true).</summary>
    public bool? Legend { get; init; }
    /// <summary>Text drawn in the lower right corner of the plot area (e.g. "r = 0.93, n = 2000").</summary>
    public string? Note { get; init; }
    /// <summary>Legend text for highlighted bars (bar charts).</summary>
    public string HighlightLabel { get; init; } = "highlighted";

    public static readonly PlotOptions Default = new();
}

/// <summary>
/// Scatter, line and bar-chart PNGs for every analysis (ScottPlot 5), with one look: DejaVu Sans
/// set explicitly (the font present on Linux machines, so text renders everywhere), a title, both
/// axis labels, a legend when there are several series. Files are written atomically.
/// </summary>
public static class Plots
{
    public const string FontName = "DejaVu Sans";
    private static readonly Color Accent = Color.FromHex("#d62728");
    private static readonly Color Plain = Color.FromHex("#7f7f7f");

    public static void Scatter(string path, string title, string xLabel, string yLabel, params Series[] series) =>
        Scatter(path, title, xLabel, yLabel, series, PlotOptions.Default);

    public static void Scatter(string path, string title, string xLabel, string yLabel, IReadOnlyList<Series> series, PlotOptions options)
    {
        var plot = NewPlot(title, xLabel, yLabel);
        AddScatter(plot, series, options, lines: false);
        Save(plot, path, options);
    }

    public static void Lines(string path, string title, string xLabel, string yLabel, params Series[] series) =>
        Lines(path, title, xLabel, yLabel, series, PlotOptions.Default);

    public static void Lines(string path, string title, string xLabel, string yLabel, IReadOnlyList<Series> series, PlotOptions options)
    {
        var plot = NewPlot(title, xLabel, yLabel);
        AddScatter(plot, series, options, lines: true);
        Save(plot, path, options);
    }

    public static void Bars(string path, string title, string xLabel, string yLabel, IReadOnlyList<string> categories, params BarSeries[] series) =>
        Bars(path, title, xLabel, yLabel, categories, series, PlotOptions.Default);

    /// <summary>Grouped bars: one group per category, one bar per series inside it; category names on the x axis.</summary>
    public static void Bars(string path, string title, string xLabel, string yLabel, IReadOnlyList<string> categories,
                            IReadOnlyList<BarSeries> series, PlotOptions options)
    {
        foreach (var s in series)
        {
            if (s.Values.Count != categories.Count) { throw new ArgumentException($"bar series '{s.Label}' has {s.Values.Count} values for {categories.Count} categories"); }
        }
        var plot = NewPlot(title, xLabel, yLabel);
        var palette = new ScottPlot.Palettes.Category10();
        double width = 0.8 / Math.Max(series.Count, 1);
        bool anyHighlight = false;
        for (int k = 0; k < series.Count; k++)
        {
            var s = series[k];
            Color color = series.Count == 1 ? Plain.WithAlpha(0.8) : palette.GetColor(k);
            var bars = new List<Bar>();
            for (int i = 0; i < categories.Count; i++)
            {
                bool highlight = s.Highlight is not null && s.Highlight[i];
                anyHighlight |= highlight;
                double v = double.IsFinite(s.Values[i]) ? s.Values[i] : 0;
                bars.Add(new Bar
                {
                    Position = i + (k - (series.Count - 1) / 2.0) * width,
                    Value = v,
                    Error = s.Errors is not null && double.IsFinite(s.Errors[i]) ? s.Errors[i] : 0,
                    Size = width * 0.9,
                    FillColor = highlight ? Accent : color,
                    LineWidth = 1, // outline and error bars (ScottPlot draws both with the line style)
                    LineColor = Color.FromHex("#333333"),
                });
            }
            plot.Add.Bars(bars); // legend items are added by hand below (one per series, plus the highlight)
        }
        plot.Add.HorizontalLine(0, 1, Colors.Black);
        double[] positions = Enumerable.Range(0, categories.Count).Select(i => (double)i).ToArray();
        plot.Axes.Bottom.SetTicks(positions, categories.ToArray());
        if (categories.Count > 12 || categories.Any(c => c.Length > 6))
        {
            // rotated labels reading downwards from their tick, with room below the axis for the longest
            plot.Axes.Bottom.TickLabelStyle.Rotation = 45;
            plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
            int longest = categories.Max(c => c.Length);
            plot.Axes.Bottom.MinimumSize = (float)(Math.Min(longest, 40) * 8 * Math.Sin(Math.PI / 4) + 45);
            plot.Axes.Right.MinimumSize = (float)(Math.Min(longest, 40) * 8 * Math.Cos(Math.PI / 4) + 10); // the last label runs right
        }
        plot.HideGrid();
        plot.Axes.Margins(horizontal: 0.02, vertical: 0.1);
        bool legend = options.Legend ?? (series.Count > 1 || anyHighlight);
        if (legend && series.Count == 1)
        {
            // one series: the legend explains the two colours, inside the plot (upper right is free
            // when bars are sorted by decreasing value, as analyses do)
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = series[0].Label, FillColor = Plain.WithAlpha(0.8) });
            if (anyHighlight) { plot.Legend.ManualItems.Add(new LegendItem { LabelText = options.HighlightLabel, FillColor = Accent }); }
            plot.ShowLegend(Alignment.UpperRight);
        }
        else if (legend)
        {
            for (int k = 0; k < series.Count; k++)
            {
                plot.Legend.ManualItems.Add(new LegendItem { LabelText = series[k].Label, FillColor = palette.GetColor(k) });
            }
            if (anyHighlight) { plot.Legend.ManualItems.Add(new LegendItem { LabelText = options.HighlightLabel, FillColor = Accent }); }
            plot.ShowLegend(Edge.Right);
        }
        else { plot.HideLegend(); }
        Finish(plot, options, legendDone: true);
        WritePng(plot.GetImage(options.Width, options.Height), path);
    }

    /// <summary>Several scatter panels side by side in one PNG (e.g. a comparison beside its control), on equal axes.</summary>
    public static void ScatterPanels(string path, string title, IReadOnlyList<ScatterPanel> panels, PlotOptions options)
    {
        if (panels.Count == 0) { throw new ArgumentException("no panels", nameof(panels)); }
        var images = new List<Image>();
        int width = options.Width / panels.Count;
        foreach (var p in panels)
        {
            var plot = NewPlot(p.Title, p.XLabel, p.YLabel);
            AddScatter(plot, p.Series, options, lines: false);
            Finish(plot, options, legendDone: false, seriesCount: p.Series.Count);
            images.Add(plot.GetImage(width, options.Height - 40));
        }
        using var surface = SkiaSharp.SKSurface.Create(new SkiaSharp.SKImageInfo(width * panels.Count, options.Height));
        var canvas = surface.Canvas;
        canvas.Clear(SkiaSharp.SKColors.White);
        using (var font = new SkiaSharp.SKFont(SkiaSharp.SKTypeface.FromFamilyName(FontName, SkiaSharp.SKFontStyle.Bold), 20))
        using (var paint = new SkiaSharp.SKPaint { Color = SkiaSharp.SKColors.Black, IsAntialias = true })
        {
            canvas.DrawText(title, width * panels.Count / 2f, 28, SkiaSharp.SKTextAlign.Center, font, paint);
        }
        for (int i = 0; i < images.Count; i++)
        {
            using var bitmap = SkiaSharp.SKBitmap.Decode(images[i].GetImageBytes(ImageFormat.Png));
            canvas.DrawBitmap(bitmap, i * width, 40);
            images[i].Dispose();
        }
        using var snapshot = surface.Snapshot();
        using var data = snapshot.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
        AtomicFile.WriteAllBytes(path, data.Span);
    }

    /// <summary>The PNG bytes of a line plot (for figures embedded in a report rather than written beside it).</summary>
    public static byte[] LinesPng(string title, string xLabel, string yLabel, IReadOnlyList<Series> series, PlotOptions options)
    {
        var plot = NewPlot(title, xLabel, yLabel);
        AddScatter(plot, series, options, lines: true);
        Finish(plot, options, legendDone: false, seriesCount: series.Count);
        using var image = plot.GetImage(options.Width, options.Height);
        return image.GetImageBytes(ImageFormat.Png);
    }

    /// <summary>
    /// A forest plot: one row per effect, top to bottom, its point estimate and interval as a horizontal bar, a solid
    /// line at 0 (no effect) and, per row, a dashed tick at the effect that would count as the paper's. Rows without an
    /// interval show their estimate only (or nothing when it is undefined). Effects are in different units: each row
    /// is scaled by its paper effect (x = effect / paper effect), so 0 means none and 1 the paper's smallest effect.
    /// </summary>
    public static byte[] ForestPng(string title, IReadOnlyList<ForestRow> rows, int width = 1000)
    {
        var plot = NewPlot(title, "effect / the paper's smallest effect (0: none, 1: the paper's)", "");
        int n = rows.Count;
        var held = Color.FromHex("#1a7f37");
        var notHeld = Color.FromHex("#9a6700");
        var inconclusive = Color.FromHex("#6e7781");
        double lo = -1, hi = 2;
        for (int k = 0; k < n; k++)
        {
            var r = rows[k];
            double y = n - 1 - k;
            double scale = r.PaperEffect > 0 ? 1 / r.PaperEffect : 1;
            var color = r.Verdict == Verdict.Held ? held : r.Verdict == Verdict.NotHeld ? notHeld : inconclusive;
            if (double.IsFinite(r.Low) && double.IsFinite(r.High))
            {
                var bar = plot.Add.Line(r.Low * scale, y, r.High * scale, y);
                bar.Color = color;
                bar.LineWidth = 4;
                lo = Math.Min(lo, r.Low * scale);
                hi = Math.Max(hi, r.High * scale);
            }
            if (double.IsFinite(r.Effect))
            {
                var point = plot.Add.Marker(r.Effect * scale, y);
                point.Color = color;
                point.Size = 12;
                point.Shape = MarkerShape.FilledSquare;
                lo = Math.Min(lo, r.Effect * scale);
                hi = Math.Max(hi, r.Effect * scale);
            }
        }
        var zero = plot.Add.VerticalLine(0);
        zero.Color = Colors.Black;
        zero.LineWidth = 1.5f;
        var paper = plot.Add.VerticalLine(1);
        paper.Color = Colors.Black.WithAlpha(0.5);
        paper.LinePattern = LinePattern.Dashed;
        double pad = 0.05 * (hi - lo);
        plot.Axes.SetLimitsX(Math.Max(lo, -20) - pad, Math.Min(hi, 20) + pad);
        plot.Axes.SetLimitsY(-0.7, n - 0.3);
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (int k = 0; k < n; k++) { ticks.AddMajor(n - 1 - k, rows[k].Label); }
        plot.Axes.Left.TickGenerator = ticks;
        plot.HideLegend();
        using var image = plot.GetImage(width, 90 + 42 * Math.Max(n, 1));
        return image.GetImageBytes(ImageFormat.Png);
    }

    private static Plot NewPlot(string title, string xLabel, string yLabel)
    {
        var plot = new Plot();
        plot.Font.Set(FontName);
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        return plot;
    }

    private static void AddScatter(Plot plot, IReadOnlyList<Series> series, PlotOptions options, bool lines)
    {
        var palette = new ScottPlot.Palettes.Category10();
        for (int k = 0; k < series.Count; k++)
        {
            var s = series[k];
            if (s.X.Count != s.Y.Count) { throw new ArgumentException($"series '{s.Label}' has {s.X.Count} x and {s.Y.Count} y values"); }
            Color color = (s.Color is null ? palette.GetColor(k) : Color.FromHex(s.Color)).WithAlpha(s.Opacity);
            // points with a NaN / infinite coordinate are left out (a line joins its neighbours)
            int[] keep = Enumerable.Range(0, s.X.Count).Where(i => double.IsFinite(s.X[i]) && double.IsFinite(s.Y[i])).ToArray();
            var sc = plot.Add.Scatter(keep.Select(i => s.X[i]).ToArray(), keep.Select(i => s.Y[i]).ToArray(), color);
            sc.LegendText = s.Label;
            sc.LineWidth = lines ? 2 : 0;
            sc.MarkerSize = lines ? s.MarkerSize : Math.Max(s.MarkerSize, 1);
            if (!lines) { sc.MarkerShape = MarkerShape.FilledCircle; }
        }
        if (options.Diagonal)
        {
            var (lo, hi) = DiagonalRange(series, options);
            var d = plot.Add.Line(lo, lo, hi, hi);
            d.Color = Colors.Black.WithAlpha(0.5);
            d.LinePattern = LinePattern.Dashed;
            d.LegendText = "y = x";
        }
    }

    private static (double, double) DiagonalRange(IReadOnlyList<Series> series, PlotOptions options)
    {
        if (options.XLimits is { } x) { return (x.Min, x.Max); }
        var all = series.SelectMany(s => s.X.Concat(s.Y)).Where(double.IsFinite).ToArray();
        return all.Length == 0 ? (0, 1) : (all.Min(), all.Max());
    }

    private static void Finish(Plot plot, PlotOptions options, bool legendDone, int seriesCount = 0)
    {
        if (options.XLimits is { } x) { plot.Axes.SetLimitsX(x.Min, x.Max); }
        if (options.YLimits is { } y) { plot.Axes.SetLimitsY(y.Min, y.Max); }
        if (!legendDone)
        {
            if (options.Legend ?? (seriesCount > 1 || options.Diagonal)) { plot.ShowLegend(Alignment.UpperLeft); }
            else { plot.HideLegend(); }
        }
        if (options.Note is { } note)
        {
            var text = plot.Add.Annotation(note, Alignment.LowerRight);
            text.LabelFontName = FontName;
            text.LabelFontSize = 13;
        }
    }

    private static void Save(Plot plot, string path, PlotOptions options)
    {
        var count = plot.GetPlottables().OfType<ScottPlot.Plottables.Scatter>().Count(s => s.LegendText != "y = x");
        Finish(plot, options, legendDone: false, seriesCount: count);
        WritePng(plot.GetImage(options.Width, options.Height), path);
    }

    private static void WritePng(Image image, string path)
    {
        using (image) { AtomicFile.WriteAllBytes(path, image.GetImageBytes(ImageFormat.Png)); }
    }
}
