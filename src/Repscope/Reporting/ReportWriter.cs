using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Repscope.Reporting;

/// <summary>What <see cref="ReportWriter.Write"/> wrote.</summary>
public sealed record ReportFiles(string Html, IReadOnlyList<string> FigureJson, IReadOnlyList<string> FigurePng);

/// <summary>
/// Writes a <see cref="Report"/> as one self-contained HTML file: figures embedded as base64 PNG,
/// inline CSS, no scripts and no external resources, so it opens offline by double-click and
/// prints well. Beside it, <c>figures/&lt;id&gt;.json</c> (the data behind each figure) and
/// <c>figures/&lt;id&gt;.png</c>.
/// </summary>
public static partial class ReportWriter
{
    public const string FiguresFolder = "figures";

    public static ReportFiles Write(Report report, string outDir, string fileName = "report.html")
    {
        Validate(report);
        var json = new List<string>();
        var png = new List<string>();
        foreach (var figure in report.Sections.SelectMany(s => s.Figures))
        {
            string stem = Path.Combine(outDir, FiguresFolder, figure.Id);
            AtomicFile.WriteAllBytes(stem + ".png", figure.Png);
            png.Add(stem + ".png");
            var document = new FigureDocument(figure.Id, figure.Title, figure.Source, figure.Caption, figure.Data);
            AtomicFile.WriteJson(stem + ".json", document);
            json.Add(stem + ".json");
        }
        string html = Path.Combine(outDir, fileName);
        AtomicFile.WriteAllText(html, Render(report));
        return new ReportFiles(html, json, png);
    }

    /// <summary>The JSON written beside each figure.</summary>
    public sealed record FigureDocument(string Id, string Title, FigureSource Source, string? Caption, object? Data);

    /// <summary>Checks ids (unique, safe as file names and anchors) and every PNG; throws <see cref="RepscopeException"/>.</summary>
    public static void Validate(Report report)
    {
        var ids = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var section in report.Sections)
        {
            CheckId(section.Id, "section", ids);
            foreach (var figure in section.Figures)
            {
                CheckId(figure.Id, "figure", ids);
                ReportPng.Validate(figure.Png, figure.Id);
            }
        }
        var sectionIds = report.Sections.Select(s => s.Id).ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var f in report.Findings)
        {
            if (f.SectionId is not null && !sectionIds.Contains(f.SectionId))
            {
                throw new RepscopeException($"report: finding '{f.Claim}' points to section '{f.SectionId}', which does not exist");
            }
        }
    }

    private static void CheckId(string id, string kind, HashSet<string> seen)
    {
        if (!IdPattern().IsMatch(id) || id.Contains("..", StringComparison.Ordinal))
        {
            throw new RepscopeException($"report: {kind} id '{id}' must be 1-80 letters, digits, '.', '-' or '_', starting with a letter or digit, without '..'");
        }
        if (!seen.Add(id)) { throw new RepscopeException($"report: {kind} id '{id}' is used twice"); }
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")]
    private static partial Regex IdPattern();

    /// <summary>The HTML text of the report (no files written).</summary>
    public static string Render(Report report)
    {
        var h = new StringBuilder(1 << 16);
        h.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
         .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
         .Append("<title>").Append(E(report.Title)).Append("</title>\n<style>\n").Append(Css).Append("</style>\n</head>\n<body>\n<main>\n");
        h.Append("<header>\n<h1>").Append(E(report.Title)).Append("</h1>\n");
        if (report.Summary.Length > 0) { h.Append("<p class=\"summary\">").Append(E(report.Summary)).Append("</p>\n"); }
        h.Append("</header>\n");

        RenderFindings(h, report);
        RenderContents(h, report);
        foreach (var section in report.Sections) { RenderSection(h, section); }

        if (report.Provenance.Count > 0)
        {
            h.Append("<section id=\"provenance\" class=\"provenance\">\n<h2>Provenance</h2>\n<dl>\n");
            foreach (var (key, value) in report.Provenance)
            {
                h.Append("<dt>").Append(E(key)).Append("</dt><dd>").Append(E(value)).Append("</dd>\n");
            }
            h.Append("</dl>\n</section>\n");
        }
        h.Append("</main>\n</body>\n</html>\n");
        return h.ToString();
    }

    private static void RenderFindings(StringBuilder h, Report report)
    {
        h.Append("<section id=\"findings\" class=\"findings\">\n<h2>Findings</h2>\n");
        if (report.Findings.Count == 0)
        {
            h.Append("<p>No findings were computed.</p>\n</section>\n");
            return;
        }
        int held = report.Findings.Count(f => f.Verdict == Verdict.Held);
        int notHeld = report.Findings.Count(f => f.Verdict == Verdict.NotHeld);
        int inconclusive = report.Findings.Count(f => f.Verdict == Verdict.Inconclusive);
        h.Append(CultureInfo.InvariantCulture, $"<p>{held} held, {notHeld} did not hold, {inconclusive} inconclusive.</p>\n");
        if (report.FindingsFigure is { } forest)
        {
            h.Append("<figure class=\"forest\"><img alt=\"Forest plot: each finding's effect and 95 % interval\" src=\"data:image/png;base64,")
             .Append(Convert.ToBase64String(forest))
             .Append("\"><figcaption>Each finding's effect (square) and 95 % interval (bar), scaled by the smallest effect that would count as the paper's: ")
             .Append("0 (solid line) is no effect, 1 (dashed) the paper's. Green: held (interval above 0); amber: did not hold (interval below 1); grey: inconclusive.</figcaption></figure>\n");
        }
        h.Append("<table>\n<thead><tr><th>#</th><th>The paper's claim</th><th>What this run measured</th><th>Effect [95 % interval]</th><th>Verdict and reason</th></tr></thead>\n<tbody>\n");
        int i = 1;
        foreach (var f in report.Findings)
        {
            h.Append(CultureInfo.InvariantCulture, $"<tr class=\"{VerdictClass(f.Verdict)}\"><td>{i++}</td><td>");
            if (f.SectionId is not null) { h.Append("<a href=\"#").Append(E(f.SectionId)).Append("\">").Append(E(f.Claim)).Append("</a>"); }
            else { h.Append(E(f.Claim)); }
            h.Append("</td><td>").Append(E(f.Measured)).Append("</td><td class=\"num\">").Append(E(EffectText(f)))
             .Append("<br><small>").Append(E(f.EffectName)).Append("</small></td><td><span class=\"verdict\">")
             .Append(VerdictText(f.Verdict)).Append("</span><br><small class=\"reason\">").Append(E(f.Reason)).Append("</small></td></tr>\n");
        }
        h.Append("</tbody>\n</table>\n</section>\n");
    }

    /// <summary>"0.123 [0.050, 0.196], 2 seeds, Welch t over seeds"; "n/a" when the effect was not measured.</summary>
    public static string EffectText(Finding f)
    {
        static string N(double x) => double.IsNaN(x) ? "n/a" : x.ToString("0.000", CultureInfo.InvariantCulture);
        if (double.IsNaN(f.Effect)) { return "n/a"; }
        string ci = double.IsNaN(f.CiLow) ? "no interval" : $"[{N(f.CiLow)}, {N(f.CiHigh)}]";
        return $"{N(f.Effect)} {ci}; paper: >= {N(f.PaperEffect)}" + (f.Method.Length > 0 ? $"; {f.Method}" : "");
    }

    private static void RenderContents(StringBuilder h, Report report)
    {
        if (report.Sections.Count == 0) { return; }
        h.Append("<nav class=\"contents\">\n<h2>Experiments</h2>\n<ol>\n");
        foreach (var s in report.Sections)
        {
            h.Append("<li><a href=\"#").Append(E(s.Id)).Append("\">").Append(E(s.Title)).Append("</a></li>\n");
        }
        h.Append("</ol>\n</nav>\n");
    }

    private static void RenderSection(StringBuilder h, ReportSection s)
    {
        h.Append("<section class=\"experiment\" id=\"").Append(E(s.Id)).Append("\">\n<h2>").Append(E(s.Title)).Append("</h2>\n");
        h.Append("<p class=\"measured\">").Append(E(s.Measured)).Append("</p>\n");
        foreach (string note in s.Notes) { h.Append("<p class=\"note\">").Append(E(note)).Append("</p>\n"); }
        if (s.Figures.Count > 0)
        {
            h.Append(s.Columns > 0
                ? string.Create(CultureInfo.InvariantCulture, $"<div class=\"figures\" style=\"grid-template-columns: repeat({s.Columns}, minmax(0, 1fr))\">\n")
                : "<div class=\"figures\">\n");
        }
        foreach (var f in s.Figures)
        {
            var (width, height) = ReportPng.Validate(f.Png, f.Id);
            h.Append("<figure id=\"").Append(E(f.Id)).Append("\">\n");
            h.Append(CultureInfo.InvariantCulture, $"<img width=\"{width}\" height=\"{height}\" alt=\"")
             .Append(E(f.Title)).Append("\" src=\"data:image/png;base64,").Append(Convert.ToBase64String(f.Png)).Append("\">\n");
            h.Append("<figcaption><strong>").Append(E(f.Title)).Append(".</strong> ");
            if (!string.IsNullOrWhiteSpace(f.Caption)) { h.Append(E(f.Caption)).Append(' '); }
            h.Append("<span class=\"source\">Model: ").Append(E(f.Source.Model))
             .Append("; data: ").Append(E(f.Source.Data))
             .Append("; seed: ").Append(E(f.Source.Seed)).Append(".</span> ");
            h.Append("<span class=\"data-link\">Data: <a href=\"").Append(FiguresFolder).Append('/').Append(E(f.Id)).Append(".json\">")
             .Append(FiguresFolder).Append('/').Append(E(f.Id)).Append(".json</a></span></figcaption>\n</figure>\n");
        }
        if (s.Figures.Count > 0) { h.Append("</div>\n"); }
        foreach (var t in s.Tables) { RenderTable(h, t); }
        h.Append("</section>\n");
    }

    private static void RenderTable(StringBuilder h, ReportTable t)
    {
        h.Append("<table class=\"data\">\n<caption>").Append(E(t.Caption)).Append("</caption>\n<thead><tr>");
        foreach (string c in t.Headers) { h.Append("<th>").Append(E(c)).Append("</th>"); }
        h.Append("</tr></thead>\n<tbody>\n");
        foreach (var row in t.Rows)
        {
            if (row.Count != t.Headers.Count)
            {
                throw new RepscopeException($"report: table '{t.Caption}' has a row of {row.Count} cells, expected {t.Headers.Count}");
            }
            h.Append("<tr>");
            foreach (string c in row)
            {
                bool numeric = double.TryParse(c, NumberStyles.Float, CultureInfo.InvariantCulture, out _);
                h.Append(numeric ? "<td class=\"num\">" : "<td>").Append(E(c)).Append("</td>");
            }
            h.Append("</tr>\n");
        }
        h.Append("</tbody>\n</table>\n");
    }

    public static string VerdictText(Verdict v) => v switch
    {
        Verdict.Held => "held",
        Verdict.NotHeld => "did not hold",
        Verdict.Inconclusive => "inconclusive",
        _ => throw new ArgumentOutOfRangeException(nameof(v)),
    };

    private static string VerdictClass(Verdict v) => v switch
    {
        Verdict.Held => "held",
        Verdict.NotHeld => "not-held",
        _ => "inconclusive",
    };

    /// <summary>HTML-escapes text for element content and double-quoted attributes.</summary>
    private static string E(string s) => WebUtility.HtmlEncode(s);

    private const string Css = """
        :root { --ink: #1b1f24; --muted: #57606a; --rule: #d0d7de; --held: #1a7f37; --notheld: #9a6700; --notrun: #6e7781; }
        * { box-sizing: border-box; }
        body { margin: 0; color: var(--ink); background: #fff; font: 15px/1.5 "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; }
        main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 64px; }
        h1 { font-size: 1.7em; margin: 0.2em 0 0.3em; }
        h2 { font-size: 1.3em; margin: 1.6em 0 0.4em; padding-bottom: 0.2em; border-bottom: 1px solid var(--rule); }
        .summary, .measured { max-width: 80ch; }
        .note { color: var(--muted); font-style: italic; max-width: 80ch; }
        table { border-collapse: collapse; width: 100%; margin: 0.6em 0 1em; font-size: 0.93em; }
        th, td { border: 1px solid var(--rule); padding: 5px 8px; text-align: left; vertical-align: top; }
        thead th { background: #f6f8fa; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; }
        caption { text-align: left; color: var(--muted); padding-bottom: 4px; }
        .verdict { font-weight: 600; white-space: nowrap; }
        .reason { color: var(--muted); }
        figure.forest img { max-width: 1000px; }
        tr.held .verdict { color: var(--held); }
        tr.not-held .verdict { color: var(--notheld); }
        tr.inconclusive .verdict { color: var(--notrun); }
        tr.held td:last-child { background: #dafbe1; }
        tr.not-held td:last-child { background: #fff8c5; }
        tr.inconclusive td:last-child { background: #f6f8fa; }
        .figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 12px 20px; align-items: start; }
        figure { margin: 0.8em 0; }
        figure img { display: block; width: 100%; height: auto; border: 1px solid var(--rule); }
        figcaption { color: var(--muted); font-size: 0.9em; margin-top: 0.4em; max-width: 90ch; }
        figcaption strong { color: var(--ink); }
        a { color: #0550ae; }
        .contents ol { columns: 2; }
        .provenance dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; font-size: 0.9em; }
        .provenance dt { color: var(--muted); }
        .provenance dd { margin: 0; }
        @media print {
          @page { margin: 15mm; }
          body { font-size: 10.5pt; }
          main { max-width: none; padding: 0; }
          .contents { display: none; }
          * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
          h2 { break-after: avoid; }
          section.experiment { break-before: page; }
          figure, table, tr { break-inside: avoid; }
          .figures { grid-template-columns: repeat(auto-fill, minmax(80mm, 1fr)); }
          figure img { max-height: 230mm; }
          a { color: inherit; text-decoration: none; }
          .data-link { display: none; }
        }

        """;
}
