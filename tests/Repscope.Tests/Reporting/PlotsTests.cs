using Repscope.Reporting;

namespace Repscope.Tests.Reporting;

/// <summary>Plots (src/Repscope/Reporting/Plots.cs) writes PNGs of the requested size with each series drawn in its colour; bad series are errors.</summary>
public class PlotsTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"repscope-plots-{Guid.NewGuid():N}");

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    internal static (int Width, int Height) PngSize(string path)
    {
        byte[] b = File.ReadAllBytes(path);
        Assert.True(b.Length > 1000, $"{path}: only {b.Length} bytes");
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, b[..4]);
        int Be(int o) => (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
        return (Be(16), Be(20));
    }

    /// <summary>Pixels of <paramref name="path"/> within 12 per channel of <paramref name="hex"/> ("#rrggbb"), in columns [x0, x1) (default: all).</summary>
    internal static int Pixels(string path, string hex, int x0 = 0, int x1 = int.MaxValue)
    {
        var c = SkiaSharp.SKColor.Parse(hex);
        using var bitmap = SkiaSharp.SKBitmap.Decode(path);
        int n = 0;
        for (int y = 0; y < bitmap.Height; y++)
        {
            for (int x = x0; x < Math.Min(x1, bitmap.Width); x++)
            {
                var p = bitmap.GetPixel(x, y);
                if (Math.Abs(p.Red - c.Red) < 12 && Math.Abs(p.Green - c.Green) < 12 && Math.Abs(p.Blue - c.Blue) < 12) { n++; }
            }
        }
        return n;
    }

    [Fact]
    public void ScatterLinesBarsAndPanelsWritePngsOfTheRequestedSize()
    {
        var rng = new Random(1);
        double[] x = Enumerable.Range(0, 200).Select(_ => rng.NextDouble()).ToArray();
        double[] y = x.Select(v => v + 0.1 * (rng.NextDouble() - 0.5)).ToArray();
        string scatter = Path.Combine(_dir, "scatter.png");
        Plots.Scatter(scatter, "Per-example accuracy", "group A", "group B",
            new[] { new Series("examples", x, y) { Color = "#2ca02c" } }, new PlotOptions { Diagonal = true, XLimits = (0, 1), YLimits = (0, 1), Note = "r = 0.99" });
        Assert.Equal((900, 650), PngSize(scatter));
        // The 200 points in their colour (5 px markers, some overlapping).
        Assert.InRange(Pixels(scatter, "#2ca02c"), 1000, 40000);

        string lines = Path.Combine(_dir, "lines.png");
        double[] epochs = Enumerable.Range(1, 20).Select(i => (double)i).ToArray();
        Plots.Lines(lines, "Training", "epoch", "accuracy",
            new Series("train", epochs, epochs.Select(e => 1 - Math.Exp(-e / 5)).ToArray()),
            new Series("test", epochs, epochs.Select(e => 0.9 - Math.Exp(-e / 5)).ToArray()));
        Assert.Equal((900, 650), PngSize(lines));
        // Both curves, each in its palette colour (Category10: blue, then orange).
        Assert.True(Pixels(lines, "#1f77b4") > 500 && Pixels(lines, "#ff7f0e") > 500, $"{Pixels(lines, "#1f77b4")} blue, {Pixels(lines, "#ff7f0e")} orange pixels");

        string bars = Path.Combine(_dir, "bars.png");
        string[] classes = { "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck" };
        Plots.Bars(bars, "Per-class accuracy difference (A - B)", "class", "difference",
            classes, new[] { new BarSeries("A - B", classes.Select((_, i) => 0.01 * (i - 4)).ToArray(),
                                            Enumerable.Repeat(0.005, 10).ToArray(), classes.Select((_, i) => i == 3).ToArray()) },
            new PlotOptions { Width = 1000, Height = 500, HighlightLabel = "significant" });
        Assert.Equal((1000, 500), PngSize(bars));
        // The one significant class is drawn in the accent red, and the red is gone when nothing is significant.
        int Red(string png)
        {
            using var bitmap = SkiaSharp.SKBitmap.Decode(png);
            return bitmap.Pixels.Count(c => Math.Abs(c.Red - 0xd6) < 12 && Math.Abs(c.Green - 0x27) < 12 && Math.Abs(c.Blue - 0x28) < 12);
        }
        string plain = Path.Combine(_dir, "bars_plain.png");
        Plots.Bars(plain, "Per-class accuracy difference (A - B)", "class", "difference",
            classes, new[] { new BarSeries("A - B", classes.Select((_, i) => 0.01 * (i - 4)).ToArray(), Enumerable.Repeat(0.005, 10).ToArray(),
                                            new bool[10]) },
            new PlotOptions { Width = 1000, Height = 500, HighlightLabel = "significant" });
        Assert.True(Red(bars) > 200, $"{Red(bars)} accent pixels for the significant bar and its legend entry");
        Assert.True(Red(plain) < Red(bars) / 4, $"{Red(plain)} accent pixels with nothing significant, {Red(bars)} with one class");

        string panels = Path.Combine(_dir, "panels.png");
        Plots.ScatterPanels(panels, "A vs B beside the control",
            new[] { new ScatterPanel("A vs B", "A", "B", new[] { new Series("examples", x, y) }),
                    new ScatterPanel("control", "A half 1", "A half 2", new[] { new Series("examples", y, x) }) },
            new PlotOptions { Width = 1400, Height = 700, Diagonal = true, XLimits = (0, 1), YLimits = (0, 1) });
        Assert.Equal((1400, 700), PngSize(panels));
        // Each half holds its own panel's points (palette blue).
        Assert.True(Pixels(panels, "#1f77b4", 0, 700) > 1000 && Pixels(panels, "#1f77b4", 700, 1400) > 1000, "a panel without its points");
        if (Environment.GetEnvironmentVariable("REPSCOPE_KEEP_PLOTS") is { } keep)
        {
            Directory.CreateDirectory(keep);
            foreach (var f in Directory.GetFiles(_dir)) { File.Copy(f, Path.Combine(keep, Path.GetFileName(f)), true); }
        }
    }

    /// <summary>A curve with NaN and infinite points is drawn exactly as the curve of its finite points alone.</summary>
    [Fact]
    public void NonFinitePointsAreLeftOut()
    {
        string path = Path.Combine(_dir, "nan.png"), finite = Path.Combine(_dir, "finite.png");
        Plots.Lines(path, "With gaps", "x", "y", new Series("s", new[] { 0.0, 1, 2, 3 }, new[] { 1.0, double.NaN, double.PositiveInfinity, 2 }));
        Plots.Lines(finite, "With gaps", "x", "y", new Series("s", new[] { 0.0, 3 }, new[] { 1.0, 2 }));
        Assert.Equal((900, 650), PngSize(path));
        Assert.True(Pixels(path, "#1f77b4") > 300, "the finite points' line is missing");
        using var a = SkiaSharp.SKBitmap.Decode(path);
        using var b = SkiaSharp.SKBitmap.Decode(finite);
        Assert.Equal(b.Pixels, a.Pixels);
    }

    [Fact]
    public void MismatchedSeriesAreErrors()
    {
        Assert.Throws<ArgumentException>(() => Plots.Scatter(Path.Combine(_dir, "x.png"), "t", "x", "y", new Series("s", new double[3], new double[2])));
        Assert.Throws<ArgumentException>(() => Plots.Bars(Path.Combine(_dir, "y.png"), "t", "x", "y", new[] { "a", "b" }, new BarSeries("s", new double[3])));
        Assert.False(Directory.Exists(_dir) && Directory.GetFiles(_dir).Length > 0);
    }
}
