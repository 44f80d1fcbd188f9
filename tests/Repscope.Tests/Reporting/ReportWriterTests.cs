using System.Text.Json;
using System.Text.RegularExpressions;
using Repscope.Reporting;
using SkiaSharp;

namespace Repscope.Tests.Reporting;

public sealed class ReportWriterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("repscope-report-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly Regex EmbeddedPng = new("src=\"data:image/png;base64,([A-Za-z0-9+/=]+)\"");

    [Fact]
    public void Every_figure_is_embedded_as_the_same_valid_png()
    {
        var report = ReportSamples.Build();
        var files = ReportWriter.Write(report, _dir);
        string html = File.ReadAllText(files.Html);

        var figures = report.Sections.SelectMany(s => s.Figures).ToList();
        var embedded = EmbeddedPng.Matches(html).Select(m => Convert.FromBase64String(m.Groups[1].Value)).ToList();
        Assert.Equal(figures.Count, embedded.Count);
        for (int i = 0; i < figures.Count; i++)
        {
            Assert.Equal(figures[i].Png, embedded[i]);
            using var decoded = SKBitmap.Decode(embedded[i]);
            Assert.NotNull(decoded);
            var (w, h) = ReportPng.Validate(embedded[i], figures[i].Id);
            Assert.Equal((decoded.Width, decoded.Height), (w, h));
            Assert.Contains($"<img width=\"{w}\" height=\"{h}\"", html);
            Assert.Contains($"<figure id=\"{figures[i].Id}\">", html);
        }
    }

    [Fact]
    public void Html_has_no_external_resources_and_no_scripts()
    {
        string html = ReportWriter.Render(ReportSamples.Build());
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<link", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("@import", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("url(", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("http:", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("https:", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("//", Regex.Replace(html, "data:image/png;base64,[A-Za-z0-9+/=]+", ""));
        // Every reference is an embedded image, an anchor in the page, or the JSON beside it.
        foreach (Match m in Regex.Matches(html, "(?:src|href)=\"([^\"]*)\""))
        {
            string v = m.Groups[1].Value;
            Assert.True(v.StartsWith("data:image/png;base64,", StringComparison.Ordinal) || v.StartsWith('#')
                        || Regex.IsMatch(v, "^figures/[A-Za-z0-9._-]+\\.json$"), $"unexpected reference {v}");
        }
        Assert.Contains("@media print", html);
    }

    [Fact]
    public void Names_and_text_are_escaped()
    {
        const string hostile = "<script>alert('x')</script> & \"quoted\"";
        string html = ReportWriter.Render(ReportSamples.Build(hostile));
        Assert.DoesNotContain("<script>", html);
        Assert.DoesNotContain("\"quoted\"", html);
        Assert.Contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quoted&quot;", html);
        Assert.Contains("<title>Repscope reproduction &lt;quick&gt;</title>", html);
        Assert.Contains("Bag &amp; &lt;b&gt;", html);
        Assert.Contains("<dd>2 cores &lt;x86_64&gt;</dd>", html);
    }

    [Fact]
    public void Findings_table_comes_first_with_verdicts_and_links()
    {
        string html = ReportWriter.Render(ReportSamples.Build());
        int findings = html.IndexOf("id=\"findings\"", StringComparison.Ordinal);
        Assert.True(findings > 0 && findings < html.IndexOf("class=\"experiment\"", StringComparison.Ordinal));
        Assert.Contains("<p>1 held, 1 did not hold, 1 inconclusive.</p>", html);
        Assert.Contains("<tr class=\"held\"><td>1</td><td><a href=\"#depth\">Block structure appears as models get deeper</a>", html);
        Assert.Contains("<span class=\"verdict\">did not hold</span><br><small class=\"reason\">95 % interval [-0.050, 0.060] lies below", html);
        Assert.Contains("<span class=\"verdict\">inconclusive</span><br><small class=\"reason\">the errors comparison was not run &lt;b&gt;</small>", html);
        Assert.Contains("0.200 [0.120, 0.280]; paper: &gt;= 0.050; Welch t over seeds", html);
        Assert.Contains("<tr class=\"inconclusive\"><td>3</td><td>Wide and deep models make different errors</td>", html);
        // Captions say model, data and seed.
        Assert.Contains("Model: ResNet-56 (width 1); data: fashion-mnist; seed: 1 vs 2.", html);
        Assert.Contains("<td class=\"num\">-0.01</td>", html);
        Assert.Contains("<td>T-shirt/top</td>", html);
        Assert.Contains("<div class=\"figures\">", html);
        var two = ReportSamples.Build() with { Sections = [ReportSamples.Build().Sections[0] with { Columns = 2 }] };
        Assert.Contains("<div class=\"figures\" style=\"grid-template-columns: repeat(2, minmax(0, 1fr))\">", ReportWriter.Render(two with { Findings = [] }));
    }

    [Fact]
    public void The_json_behind_every_figure_is_written_beside_the_report()
    {
        var report = ReportSamples.Build();
        var files = ReportWriter.Write(report, _dir);
        Assert.Equal(3, files.FigureJson.Count);
        foreach (var figure in report.Sections.SelectMany(s => s.Figures))
        {
            string json = Path.Combine(_dir, "figures", figure.Id + ".json");
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            Assert.Equal(figure.Id, doc.RootElement.GetProperty("id").GetString());
            Assert.Equal(figure.Source.Seed, doc.RootElement.GetProperty("source").GetProperty("seed").GetString());
            Assert.Equal(figure.Png, File.ReadAllBytes(Path.Combine(_dir, "figures", figure.Id + ".png")));
        }
        using var heat = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "figures", "depth-heatmaps.json")));
        var cka = heat.RootElement.GetProperty("data").GetProperty("cka");
        Assert.Equal(0.5, cka[0][1].GetDouble());
        Assert.Equal(JsonValueKind.Null, cka[1][1].ValueKind); // NaN is written as null
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public void Bad_ids_and_dangling_links_are_refused_with_the_name()
    {
        var good = ReportSamples.Build();
        var dup = good with { Sections = [good.Sections[0], good.Sections[1] with { Id = "depth" }] };
        Assert.Equal("report: section id 'depth' is used twice", Assert.Throws<RepscopeException>(() => ReportWriter.Write(dup, _dir)).Message);

        var fig = good.Sections[0].Figures[0];
        var traversal = good with { Sections = [good.Sections[0] with { Figures = [fig with { Id = "../evil" }] }, good.Sections[1]] };
        Assert.Contains("figure id '../evil'", Assert.Throws<RepscopeException>(() => ReportWriter.Write(traversal, _dir)).Message);

        var dangling = good with { Findings = [new Finding("claim", "m", Verdict.Held, "r", "e", 1, 0.5, 1.5, 0.1, 2, "t", "nowhere")] };
        Assert.Contains("section 'nowhere', which does not exist", Assert.Throws<RepscopeException>(() => ReportWriter.Write(dangling, _dir)).Message);

        var badRow = good with { Sections = [good.Sections[0], good.Sections[1] with { Tables = [new ReportTable("t", ["a", "b"], [["1"]])] }] };
        Assert.Contains("table 't' has a row of 1 cells, expected 2", Assert.Throws<RepscopeException>(() => ReportWriter.Render(badRow)).Message);
        Assert.False(File.Exists(Path.Combine(_dir, "report.html")));
    }

    [Fact]
    public void Broken_pngs_are_refused_naming_the_figure()
    {
        byte[] png = ReportSamples.Png(8, 8, 10);
        var (w, h) = ReportPng.Validate(png, "ok");
        Assert.Equal((8, 8), (w, h));

        Assert.Equal("figure 'x': not a PNG (bad signature)", Assert.Throws<RepscopeException>(() => ReportPng.Validate("GIF89a..."u8.ToArray(), "x")).Message);
        Assert.Contains("figure 'x': ", Assert.Throws<RepscopeException>(() => ReportPng.Validate(png.AsSpan(0, png.Length - 12), "x")).Message);
        byte[] flipped = (byte[])png.Clone();
        flipped[40] ^= 0x55; // inside the first chunk after IHDR
        Assert.Contains("bad CRC", Assert.Throws<RepscopeException>(() => ReportPng.Validate(flipped, "x")).Message);
        byte[] zero = (byte[])png.Clone();
        zero[16] = zero[17] = zero[18] = zero[19] = 0; // width 0 (CRC now wrong too: either message names the figure)
        Assert.StartsWith("figure 'x': ", Assert.Throws<RepscopeException>(() => ReportPng.Validate(zero, "x")).Message);

        var good = ReportSamples.Build();
        var broken = good with { Sections = [good.Sections[0] with { Figures = [good.Sections[0].Figures[0] with { Png = flipped }] }, good.Sections[1]] };
        Assert.StartsWith("figure 'depth-heatmaps': bad CRC", Assert.Throws<RepscopeException>(() => ReportWriter.Write(broken, _dir)).Message);
    }
}
