using Repscope.Similarity;
using ScottPlot;

namespace Repscope.Reporting;

/// <summary>A rectangle drawn over the heatmap around cells [RowStart..RowEnd] x [ColumnStart..ColumnEnd] (inclusive), e.g. a span of block structure.</summary>
public sealed record HeatmapSquare(int RowStart, int RowEnd, int ColumnStart, int ColumnEnd, string? Label = null)
{
    /// <summary>Outline colour as hex (default red).</summary>
    public string Colour { get; init; } = "#FF0000";

    /// <summary>A dashed outline (e.g. to tell a scored square from threshold-detected block structure).</summary>
    public bool Dashed { get; init; }

    /// <summary>A square on the diagonal of a within-model map: layers first..last.</summary>
    public static HeatmapSquare Diagonal(int first, int last, string? label = null) => new(first, last, first, last, label);
}

/// <summary>Options for <see cref="Heatmap.Save"/>.</summary>
public sealed record HeatmapOptions
{
    /// <summary>Draw a line before each of these row indices (e.g. the first layer of every stage).</summary>
    public IReadOnlyList<int> RowBoundaries { get; init; } = [];

    /// <summary>Draw a line before each of these column indices.</summary>
    public IReadOnlyList<int> ColumnBoundaries { get; init; } = [];

    /// <summary>Rectangles to outline (e.g. block structure).</summary>
    public IReadOnlyList<HeatmapSquare> Squares { get; init; } = [];

    /// <summary>Axis titles.</summary>
    public string RowAxisLabel { get; init; } = "layer";
    public string ColumnAxisLabel { get; init; } = "layer";

    /// <summary>A second title line (e.g. how the values were computed).</summary>
    public string? Subtitle { get; init; }

    /// <summary>Colour-bar title.</summary>
    public string ColourBarLabel { get; init; } = "CKA";

    /// <summary>Print the value in each cell (default: when the map has at most 12 x 12 cells).</summary>
    public bool? Annotate { get; init; }

    /// <summary>Image size in pixels (default: grows with the number of layers).</summary>
    /// <summary>Row 0 at the bottom (the paper's figures) instead of at the top.</summary>
    public bool OriginBottomLeft { get; init; }

    /// <summary>Image format of <see cref="Heatmap.Save"/>.</summary>
    public FigureFormat Format { get; init; } = FigureFormat.Png;

    public int? Width { get; init; }
    public int? Height { get; init; }
}

/// <summary>
/// CKA heatmaps as PNG: row 0 at the top, layer names on both axes, a colour bar fixed to [0, 1],
/// undefined (NaN) cells in grey. Reused by every command that draws a CKA matrix.
/// </summary>
public static class Heatmap
{
    private static readonly Color UndefinedColour = Color.FromHex("#BDBDBD");

    public static void Save(string path, CkaMatrix m, string title, HeatmapOptions? options = null)
    {
        options ??= new HeatmapOptions();
        var plot = Build(m, title, options, out int width, out int height);
        PlotStyle.Save(plot, path, options.Width ?? width, options.Height ?? height, options.Format);
    }

    /// <summary>
    /// Draws a small map in memory and drops it: loads the renderer's native library, fonts and code paths, so that
    /// a command can do this on another thread while it computes and its <see cref="Save"/> later starts warm.
    /// </summary>
    public static void Warm()
    {
        var plot = Build(new CkaMatrix(["a", "b"], ["a", "b"], new double[,] { { 1, 0.5 }, { 0.5, 1 } }), "warm-up", new HeatmapOptions(), out _, out _);
        plot.GetImageBytes(160, 120, ImageFormat.Png);
    }

    /// <summary>The plot, for callers that want to add to it; <paramref name="width"/> and <paramref name="height"/> are the suggested size.</summary>
    public static Plot Build(CkaMatrix m, string title, HeatmapOptions options, out int width, out int height)
    {
        int rows = m.Rows.Count, cols = m.Columns.Count;
        var plot = new Plot();
        PlotStyle.Apply(plot);
        bool anyUndefined = m.Values.Cast<double>().Any(double.IsNaN);
        string[] titleLines = new[] { title, options.Subtitle, anyUndefined ? "grey: undefined (constant layer)" : null }
            .Where(t => !string.IsNullOrEmpty(t)).Select(t => t!).ToArray();
        plot.Title(string.Join("\n", titleLines));
        // ScottPlot draws row 0 at the top. It needs one defined cell to draw a heatmap at all: a map whose every cell is
        // undefined is drawn as the grey background alone (an invisible stand-in keeps the colour bar).
        bool allUndefined = m.Values.Cast<double>().All(double.IsNaN);
        var hm = plot.Add.Heatmap(allUndefined ? new double[,] { { 0 } } : options.OriginBottomLeft ? FlipRows(m.Values) : m.Values);
        hm.IsVisible = !allUndefined;
        hm.Colormap = new ScottPlot.Colormaps.Viridis();
        hm.ManualRange = new ScottPlot.Range(0, 1);
        plot.DataBackground.Color = UndefinedColour; // NaN cells are transparent: the background shows through

        // Cell (i, j) is centred at x = j, y = rows - 1 - i (row 0 at the top), or y = i with the origin at the bottom left.
        double Y(double i) => options.OriginBottomLeft ? i : rows - 1 - i;
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, cols).Select(j => (double)j).ToArray(), m.Columns.ToArray());
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, rows).Select(i => Y(i)).ToArray(), m.Rows.ToArray());
        int longestColumn = m.Columns.Max(s => s.Length);
        int longestRow = m.Rows.Max(s => s.Length);
        if (cols > 4 || longestColumn > 8)
        {
            plot.Axes.Bottom.TickLabelStyle.Rotation = -90;
            plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleRight;
            plot.Axes.Bottom.MinimumSize = 20 + 7.5f * longestColumn;
        }
        plot.Axes.Left.MinimumSize = 20 + 7.5f * longestRow;
        plot.XLabel(options.ColumnAxisLabel);
        plot.YLabel(options.RowAxisLabel);
        plot.Axes.SetLimits(-0.5, cols - 0.5, -0.5, rows - 0.5);
        plot.Grid.IsVisible = false;

        var bar = plot.Add.ColorBar(hm);
        bar.Label = options.ColourBarLabel;
        bar.LabelStyle.FontSize = 14;

        foreach (int b in options.RowBoundaries.Where(b => b > 0 && b < rows))
        {
            var line = plot.Add.HorizontalLine((Y(b) + Y(b - 1)) / 2, 2, Colors.White);
            line.LinePattern = LinePattern.Dashed;
        }
        foreach (int b in options.ColumnBoundaries.Where(b => b > 0 && b < cols))
        {
            var line = plot.Add.VerticalLine(b - 0.5, 2, Colors.White);
            line.LinePattern = LinePattern.Dashed;
        }
        foreach (var square in options.Squares)
        {
            double top = Math.Max(Y(square.RowStart), Y(square.RowEnd)) + 0.5, bottom = Math.Min(Y(square.RowStart), Y(square.RowEnd)) - 0.5;
            var r = plot.Add.Rectangle(square.ColumnStart - 0.5, square.ColumnEnd + 0.5, bottom, top);
            var colour = Color.FromHex(square.Colour);
            r.FillStyle.Color = Colors.Transparent;
            r.LineStyle.Color = colour;
            r.LineStyle.Width = 3;
            if (square.Dashed) { r.LineStyle.Pattern = LinePattern.Dashed; }
            if (square.Label is not null)
            {
                // Threshold-detected spans are labelled at their top left corner, a dashed (scored) square at its bottom right.
                var t = square.Dashed ? plot.Add.Text(square.Label, square.ColumnEnd + 0.4, bottom + 0.1) : plot.Add.Text(square.Label, square.ColumnStart - 0.4, top - 0.1);
                t.LabelFontColor = colour;
                t.LabelFontSize = 13;
                t.LabelBold = true;
                t.LabelAlignment = square.Dashed ? Alignment.LowerRight : Alignment.UpperLeft;
            }
        }
        if (options.Annotate ?? (rows <= 12 && cols <= 12))
        {
            for (int i = 0; i < rows; i++)
            {
                for (int j = 0; j < cols; j++)
                {
                    double v = m.Values[i, j];
                    var t = plot.Add.Text(double.IsNaN(v) ? "n/a" : v.ToString("0.00"), j, Y(i));
                    t.LabelAlignment = Alignment.MiddleCenter;
                    t.LabelFontSize = 11;
                    t.LabelFontColor = double.IsNaN(v) || v > 0.6 ? Colors.Black : Colors.White;
                }
            }
        }

        int cell = Math.Clamp(900 / Math.Max(rows, cols), 14, 60);
        int titleWidth = 10 * titleLines.Max(l => l.Length) + 60; // 18 pt DejaVu Sans: about 10 px a character
        width = Math.Max(Math.Max(520, titleWidth), cols * cell + (int)(7.5 * longestRow) + 230);
        height = Math.Max(460, rows * cell + (cols > 4 || longestColumn > 8 ? (int)(7.5 * longestColumn) : 0) + 120 + 28 * titleLines.Length);
        return plot;
    }

    private static double[,] FlipRows(double[,] v)
    {
        int rows = v.GetLength(0), cols = v.GetLength(1);
        var f = new double[rows, cols];
        for (int i = 0; i < rows; i++) { for (int j = 0; j < cols; j++) { f[i, j] = v[rows - 1 - i, j]; } }
        return f;
    }
}
