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

    [Fact]
    public void SaveWritesAPngWithBoundariesAndBlocks()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"repscope-heatmap-{Guid.NewGuid():N}");
        string path = Path.Combine(dir, "cka.png");
        var m = Sample(16, 16, (i, j) => Math.Exp(-Math.Abs(i - j) / 3.0) + (i >= 10 && j >= 10 ? 0.3 : 0));
        Heatmap.Save(path, m, "ResNet-20: CKA between layers", new HeatmapOptions
        {
            RowBoundaries = [6, 11], ColumnBoundaries = [6, 11], Squares = [HeatmapSquare.Diagonal(10, 15, "block")],
        });
        using var bitmap = SKBitmap.Decode(path);
        Assert.True(bitmap.Width >= 520 && bitmap.Height >= 460);
        if (Environment.GetEnvironmentVariable("REPSCOPE_KEEP_TEST_PNG") is { } keep) { File.Copy(path, keep, true); }
        Directory.Delete(dir, true);
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
}
