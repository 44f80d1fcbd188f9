using ScottPlot;

namespace Repscope.Reporting;

/// <summary>
/// The look shared by every Repscope figure: a font that exists on Linux (DejaVu Sans, so text and
/// symbols render), readable sizes, and atomic PNG writing.
/// </summary>
public static class PlotStyle
{
    public const string FontName = "DejaVu Sans";

    /// <summary>Sets the font everywhere in the plot and makes titles and labels readable.</summary>
    public static void Apply(Plot plot, float titleSize = 18, float labelSize = 14, float tickSize = 12)
    {
        plot.Font.Set(FontName);
        plot.Axes.Title.Label.FontSize = titleSize;
        foreach (var axis in plot.Axes.GetAxes())
        {
            axis.Label.FontSize = labelSize;
            axis.TickLabelStyle.FontSize = tickSize;
        }
    }

    /// <summary>Renders the plot as PNG and writes it atomically.</summary>
    public static void SavePng(Plot plot, string path, int width, int height)
    {
        byte[] png = plot.GetImageBytes(width, height, ImageFormat.Png);
        AtomicFile.WriteAllBytes(path, png);
    }
}
