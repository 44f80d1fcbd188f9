using Repscope.Reporting;
using SkiaSharp;

namespace Repscope.Tests.Reporting;

/// <summary>Small real PNGs and a report built from them, shared by the report tests.</summary>
internal static class ReportSamples
{
    /// <summary>A PNG with a colour gradient and a diagonal (so that a blank render is told apart).</summary>
    public static byte[] Png(int width, int height, byte hue)
    {
        using var bitmap = new SKBitmap(width, height);
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                bitmap.SetPixel(x, y, x == y ? SKColors.Black : new SKColor((byte)(255 * x / width), hue, (byte)(255 * y / height)));
            }
        }
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    public static Repscope.Reporting.Report Build(string hostileName = "ResNet-20 (width 1)")
    {
        var heat = new ReportFigure("depth-heatmaps", "Within-model CKA, " + hostileName, Png(120, 100, 40),
            new FigureSource(hostileName, "fashion-mnist, 1000 train images", "1"), "Brighter is more similar.",
            new { layers = new[] { "stem", "stage1.block1" }, cka = new[] { new[] { 1.0, 0.5 }, new[] { 0.5, double.NaN } } });
        var pc = new ReportFigure("pc1", "First principal component", Png(90, 60, 200),
            new FigureSource("ResNet-56 (width 1)", "fashion-mnist", "1, 2"), null, new { fraction = new[] { 0.2, 0.55 } });
        var seeds = new ReportFigure("seeds", "Seed 1 against seed 2", Png(64, 64, 120),
            new FigureSource("ResNet-56 (width 1)", "fashion-mnist", "1 vs 2"), null, null);
        return new Repscope.Reporting.Report(
            "Repscope reproduction <quick>",
            "Small-scale run & more.",
            [
                new Finding("Block structure appears as models get deeper", "strength 0.21 in ResNet-56 vs 0.01 in ResNet-8", Verdict.Held,
                            "95 % interval [0.120, 0.280] lies above 0", "difference of strength", 0.2, 0.12, 0.28, 0.05, 2, "Welch t over seeds", "depth"),
                new Finding("Inside the block, seeds differ", "cross-seed CKA 0.41 inside vs 0.43 outside", Verdict.NotHeld,
                            "95 % interval [-0.050, 0.060] lies below the smallest effect that counts as the paper's (0.100)", "CKA outside minus inside",
                            0.02, -0.05, 0.06, 0.1, 1, "bootstrap over 2000 test examples", "seeds-section"),
                new Finding("Wide and deep models make different errors", "errors experiment skipped", Verdict.Inconclusive,
                            "the errors comparison was not run <b>", "disagreement", double.NaN, double.NaN, double.NaN, 0.01, 0, ""),
            ],
            [
                new ReportSection("depth", "Depth and width", "CKA between every pair of layers of " + hostileName + ".", [heat, pc], [], []),
                new ReportSection("seeds-section", "Seeds", "Cross-seed CKA.", [seeds],
                    [new ReportTable("Per class <p-values>", ["class", "difference", "p (Holm)"], [["T-shirt/top", "0.031", "0.004"], ["Bag & <b>", "-0.01", "1"]])],
                    ["Only two seeds were run."]),
            ],
            [new("machine", "2 cores <x86_64>"), new("total time", "14m10s")]);
    }
}
