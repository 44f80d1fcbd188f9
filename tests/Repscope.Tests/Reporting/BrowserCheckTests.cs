using System.Diagnostics;
using System.Text.RegularExpressions;
using Repscope.Reporting;
using SkiaSharp;

namespace Repscope.Tests.Reporting;

/// <summary>
/// Opens reports in headless Chromium through tests/browser/check_report.sh. Chromium must be
/// installed (./test installs Debian's chromium package when it can); set REPSCOPE_SKIP_BROWSER=1
/// to skip on a machine without it.
/// </summary>
public sealed class BrowserCheckTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("repscope-browser-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [SkippableFact]
    public void Report_renders_in_chromium_with_every_image_decoded()
    {
        SkipUnlessBrowser();
        var files = ReportWriter.Write(ReportSamples.Build(), _dir);
        string shot = Path.Combine(_dir, "shot.png");
        var (code, output) = RunCheck(files.Html, shot, "--min-images", "3");
        Assert.True(code == 0, output);
        Assert.Contains("ok: 3 images, none broken", output);

        using var bitmap = SKBitmap.Decode(shot);
        Assert.NotNull(bitmap);
        Assert.True(bitmap.Width >= 1000, $"screenshot is {bitmap.Width} wide");
        // Not a blank page: the screenshot holds many distinct colours (text, gradients).
        var colours = new HashSet<uint>();
        for (int y = 0; y < bitmap.Height; y += 7) { for (int x = 0; x < bitmap.Width; x += 7) { colours.Add((uint)bitmap.GetPixel(x, y)); } }
        Assert.True(colours.Count > 50, $"screenshot has only {colours.Count} colours");
    }

    [SkippableFact]
    public void A_broken_image_and_an_empty_page_fail_the_check()
    {
        SkipUnlessBrowser();
        var files = ReportWriter.Write(ReportSamples.Build(), _dir);
        // Corrupt the second embedded image after writing (the writer itself refuses broken PNGs).
        string html = File.ReadAllText(files.Html);
        int n = 0;
        html = Regex.Replace(html, "data:image/png;base64,[A-Za-z0-9+/=]+", m => n++ == 1 ? "data:image/png;base64,iVBORw0KGgoAAAAA" : m.Value);
        string broken = Path.Combine(_dir, "broken.html");
        File.WriteAllText(broken, html);
        var (code, output) = RunCheck(broken, Path.Combine(_dir, "b.png"));
        Assert.Equal(1, code);
        Assert.Contains("1 of 3 images are broken: First principal component", output);

        string empty = Path.Combine(_dir, "empty.html");
        File.WriteAllText(empty, "<!DOCTYPE html><html><body></body></html>");
        (code, output) = RunCheck(empty, Path.Combine(_dir, "e.png"));
        Assert.Equal(1, code);
        Assert.Contains("the page is (nearly) empty", output);
    }

    /// <summary>Skipped (reported as such, with the reason) when REPSCOPE_SKIP_BROWSER=1; a missing Chromium otherwise fails.</summary>
    internal static void SkipUnlessBrowser()
    {
        Skip.If(Environment.GetEnvironmentVariable("REPSCOPE_SKIP_BROWSER") == "1", "REPSCOPE_SKIP_BROWSER=1: the browser check is switched off");
        bool present = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" }.Any(File.Exists)
                       || Environment.GetEnvironmentVariable("CHROMIUM") is { Length: > 0 };
        Assert.True(present, "Chromium is not installed: apt-get install chromium (./test does it when run as root), or set REPSCOPE_SKIP_BROWSER=1");
    }

    internal static string Script()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            string s = Path.Combine(d.FullName, "tests", "browser", "check_report.sh");
            if (File.Exists(s)) { return s; }
        }
        throw new FileNotFoundException("tests/browser/check_report.sh not found above " + AppContext.BaseDirectory);
    }

    internal static (int Code, string Output) RunCheck(params string[] args)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Script());
        foreach (string a in args) { psi.ArgumentList.Add(a); }
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(TimeSpan.FromMinutes(4))) { p.Kill(entireProcessTree: true); throw new TimeoutException("check_report.sh"); }
        return (p.ExitCode, stdout + stderr.Result);
    }
}
