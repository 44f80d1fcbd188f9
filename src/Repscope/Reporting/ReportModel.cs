namespace Repscope.Reporting;

/// <summary>Whether a claim of the paper held in this run.</summary>
public enum Verdict
{
    /// <summary>The measurement agrees with the paper's claim.</summary>
    Held,
    /// <summary>Measured, and the claim did not show at this scale (a result, not a failure).</summary>
    NotHeldAtThisScale,
    /// <summary>Not measured in this run (experiment skipped or its inputs missing).</summary>
    NotRun,
}

/// <summary>One row of the findings table at the top of the report.</summary>
/// <param name="Claim">The paper's claim, in a sentence.</param>
/// <param name="Measured">What this run measured, with numbers.</param>
/// <param name="Verdict">Held, did not hold at this scale, or not run.</param>
/// <param name="SectionId">The section holding the evidence (a link), or null.</param>
public sealed record Finding(string Claim, string Measured, Verdict Verdict, string? SectionId = null);

/// <summary>Where a figure's numbers come from: the model(s), data and seed(s) it shows.</summary>
public sealed record FigureSource(string Model, string Data, string Seed);

/// <summary>
/// One figure: PNG bytes plus the data behind it. <paramref name="Data"/> is serialised with
/// <see cref="JsonDefaults.Options"/> to <c>figures/&lt;Id&gt;.json</c> beside the report.
/// </summary>
public sealed record ReportFigure(string Id, string Title, byte[] Png, FigureSource Source, string? Caption, object? Data);

/// <summary>A small table inside a section (e.g. per-class differences with corrected p-values).</summary>
public sealed record ReportTable(string Caption, IReadOnlyList<string> Headers, IReadOnlyList<IReadOnlyList<string>> Rows);

/// <summary>One experiment: title, the sentence on what was measured, its figures and tables.</summary>
/// <param name="Id">Anchor used by the findings table (letters, digits, '-').</param>
/// <param name="Measured">A sentence on what was measured and how.</param>
/// <param name="Notes">Further remarks (e.g. why something was not run); may be empty.</param>
public sealed record ReportSection(
    string Id,
    string Title,
    string Measured,
    IReadOnlyList<ReportFigure> Figures,
    IReadOnlyList<ReportTable> Tables,
    IReadOnlyList<string> Notes)
{
    /// <summary>Figures per row (e.g. 2 to keep a heatmap beside its companion plot); 0: as many as fit.</summary>
    public int Columns { get; init; }
}

/// <summary>Everything one report shows. Build it, then hand it to <see cref="ReportWriter.Write"/>.</summary>
/// <param name="Summary">A paragraph under the title (what was run, at what scale).</param>
/// <param name="Provenance">Key/value lines (machine, threads, versions, total time...), shown at the end.</param>
public sealed record Report(
    string Title,
    string Summary,
    IReadOnlyList<Finding> Findings,
    IReadOnlyList<ReportSection> Sections,
    IReadOnlyList<KeyValuePair<string, string>> Provenance);
