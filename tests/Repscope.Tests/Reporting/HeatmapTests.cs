using Repscope.Reporting;
using Repscope.Similarity;
using ScottPlot;
using SkiaSharp;

namespace Repscope.Tests.Reporting;

public class HeatmapTests
{
    private static CkaMatrix Sample(int rows, int cols, Func<int, int, double> f, string prefix = "stage1.block")
    {
        var v = new double[rows, cols];
        for (int i = 0; i < rows; i++) { for (int j = 0; j < cols; j++) { v[i, j] = f(i, j); } }
        return new CkaMatrix(Enumerable.Range(0, rows).Select(i => $"{prefix}{i}").ToArray(),
                             Enumerable.Range(0, cols).Select(j => $"{prefix}{j}").ToArray(), v);
    }

    [Fact]
    public void RowZeroIsDrawnAtTheTopAndUndefinedCellsAreGrey()
    {
        // Row 0 is all 1 (bright yellow in viridis), the last row all 0 (dark purple), one NaN cell.
        var m = Sample(6, 5, (i, j) => i == 0 ? 1.0 : i == 5 ? 0.0 : 0.5);
        m.Values[3, 2] = double.NaN;
        var plot = Heatmap.Build(m, "test", new HeatmapOptions { Annotate = false }, out int w, out int h);
        using var bitmap = SKBitmap.Decode(plot.GetImageBytes(w, h, ImageFormat.Png));
        SKColor At(int i, int j)
        {
            var px = plot.GetPixel(new Coordinates(j, 5 - i));
            return bitmap.GetPixel((int)px.X, (int)px.Y);
        }
        var top = At(0, 0);
        var bottom = At(5, 4);
        Assert.True(top.Red > 200 && top.Green > 200 && top.Blue < 100, $"row 0 should be yellow, got {top}");
        Assert.True(bottom.Red < 100 && bottom.Green < 50 && bottom.Blue > 50, $"last row should be dark purple, got {bottom}");
        var nan = At(3, 2);
        Assert.True(nan.Red == nan.Green && nan.Green == nan.Blue && nan.Red > 150, $"undefined cell should be grey, got {nan}");
    }

    /// <summary>
    /// The saved PNG, decoded: the block-structure square's red outline at its four corners (and not inside it), a NaN
    /// cell grey, a high-CKA cell brighter than a middling one brighter than a low one, and the stage boundaries white.
    /// </summary>
    [Fact]
    public void SaveWritesAPngWithBoundariesAndBlockStructure()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"repscope-heatmap-{Guid.NewGuid():N}");
        string path = Path.Combine(dir, "cka.png");
        var m = Sample(16, 16, (i, j) => Math.Exp(-Math.Abs(i - j) / 3.0) + (i >= 10 && j >= 10 ? 0.3 : 0));
        m.Values[1, 14] = double.NaN;
        var options = new HeatmapOptions
        {
            RowBoundaries = [6, 11], ColumnBoundaries = [6, 11], Squares = [HeatmapSquare.Diagonal(10, 15, "S1")],
        };
        try
        {
            Heatmap.Save(path, m, "ResNet-20: CKA between layers", options);
            // The same plot laid out at the same size tells where each cell landed in the saved image.
            var plot = Heatmap.Build(m, "ResNet-20: CKA between layers", options, out int w, out int h);
            plot.GetImageBytes(w, h, ImageFormat.Png);
            using var bitmap = SKBitmap.Decode(path);
            Assert.Equal((w, h), (bitmap.Width, bitmap.Height));
            (int X, int Y) Px(double x, double y) { var p = plot.GetPixel(new Coordinates(x, y)); return ((int)Math.Round(p.X), (int)Math.Round(p.Y)); }
            SKColor Cell(int i, int j) { var (x, y) = Px(j, 15 - i); return bitmap.GetPixel(x, y); }
            static bool Red(SKColor c) => c.Red > 200 && c.Green < 60 && c.Blue < 60;
            bool RedNear(double x, double y)
            {
                var (cx, cy) = Px(x, y);
                for (int dx = -3; dx <= 3; dx++) { for (int dy = -3; dy <= 3; dy++) { if (Red(bitmap.GetPixel(cx + dx, cy + dy))) { return true; } } }
                return false;
            }

            // Rows / columns 10..15: x from 9.5 to 15.5, y (row 0 at the top) from 15 - 15 - 0.5 to 15 - 10 + 0.5.
            foreach (var (x, y) in new[] { (9.5, 5.5), (15.5, 5.5), (9.5, -0.5), (15.5, -0.5) })
            {
                Assert.True(RedNear(x, y), $"no red outline at the square's corner ({x}, {y})");
            }
            Assert.False(RedNear(12.5, 2.5), "red inside the square");
            Assert.False(RedNear(4, 11), "red far from the square");

            var nan = Cell(1, 14);
            Assert.True(nan.Red == nan.Green && nan.Green == nan.Blue && nan.Red is > 150 and < 230, $"the NaN cell should be grey, got {nan}");

            static double Luminance(SKColor c) => 0.2126 * c.Red + 0.7152 * c.Green + 0.0722 * c.Blue;
            double high = Luminance(Cell(12, 13)), middle = Luminance(Cell(4, 6)), low = Luminance(Cell(0, 15));   // CKA 1.02 (clamped), 0.51, 0.007
            Assert.True(high > middle + 40 && middle > low + 40, $"luminance should fall with CKA: {high:F0}, {middle:F0}, {low:F0}");

            // Stage boundaries before row / column 6 and 11: dashed white lines between the cells.
            static bool White(SKColor c) => c.Red > 235 && c.Green > 235 && c.Blue > 235;
            int white = 0;
            for (double x = 0; x <= 9; x += 0.1) { var (px, py) = Px(x, 15 - 5.5); white += White(bitmap.GetPixel(px, py)) ? 1 : 0; }
            Assert.True(white > 5, $"the boundary before row 6 should be drawn white (found {white} white pixels)");
            if (Environment.GetEnvironmentVariable("REPSCOPE_KEEP_TEST_PNG") is { } keep) { File.Copy(path, keep, true); }
        }
        finally
        {
            if (Directory.Exists(dir)) { Directory.Delete(dir, true); }
        }
    }

    /// <summary>A dashed, coloured square (the block-structure score's) is drawn in its colour on its edge, not inside it.</summary>
    [Fact]
    public void ADashedColouredSquareIsDrawnOnItsEdge()
    {
        var m = Sample(10, 10, (i, j) => 0.5);
        var square = HeatmapSquare.Diagonal(3, 6, "S") with { Colour = "#FF7F0E", Dashed = true };
        var plot = Heatmap.Build(m, "test", new HeatmapOptions { Annotate = false, Squares = [square] }, out int w, out int h);
        using var bitmap = SKBitmap.Decode(plot.GetImageBytes(w, h, ImageFormat.Png));
        static bool Orange(SKColor c) => c.Red > 200 && c.Green is > 90 and < 160 && c.Blue < 60;
        // Scan along the square's left edge (x = 2.5 in cell coordinates) for orange pixels: dashed, so some but not all.
        int orange = 0, total = 0;
        for (double y = 9 - 6 - 0.4; y <= 9 - 3 + 0.4; y += 0.05)
        {
            var px = plot.GetPixel(new Coordinates(2.5, y));
            total++;
            if (Orange(bitmap.GetPixel((int)Math.Round(px.X), (int)Math.Round(px.Y)))) { orange++; }
        }
        Assert.InRange(orange, total / 5, total - 2);
        var inside = plot.GetPixel(new Coordinates(4.5, 9 - 4.5));
        Assert.False(Orange(bitmap.GetPixel((int)inside.X, (int)inside.Y)));
    }

    /// <summary>
    /// Saved PNGs use a faster encoder setting (one row filter, zlib level 3; PlotStyle) than ScottPlot's own: the
    /// decoded pixels must be those of ScottPlot's PNG of the same plot, every one.
    /// </summary>
    [Fact]
    public void TheSavedPngHasExactlyThePixelsOfScottPlotsEncoding()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"repscope-heatmap-{Guid.NewGuid():N}");
        string path = Path.Combine(dir, "cka.png");
        var m = Sample(16, 16, (i, j) => Math.Exp(-Math.Abs(i - j) / 4.0));
        m.Values[2, 9] = double.NaN;
        try
        {
            Heatmap.Save(path, m, "pixels", new HeatmapOptions());
            var plot = Heatmap.Build(m, "pixels", new HeatmapOptions(), out int w, out int h);
            using var saved = SKBitmap.Decode(path);
            using var reference = SKBitmap.Decode(plot.GetImageBytes(w, h, ImageFormat.Png));
            Assert.Equal((reference.Width, reference.Height), (saved.Width, saved.Height));
            Assert.Equal(reference.ColorType, saved.ColorType);
            Assert.True(reference.GetPixelSpan().SequenceEqual(saved.GetPixelSpan()), "the saved PNG's pixels differ from ScottPlot's PNG of the same plot");
            Assert.True(reference.Pixels.Distinct().Count() > 20, "the plot should have many colours, not a blank image");
        }
        finally
        {
            if (Directory.Exists(dir)) { Directory.Delete(dir, true); }
        }
    }
}
