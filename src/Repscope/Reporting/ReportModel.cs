namespace Repscope.Reporting;

/// <summary>Whether a claim of the paper held in this run, decided from the effect's 95 % interval.</summary>
public enum Verdict
{
    /// <summary>The interval excludes no effect: the effect the paper claims is there (its direction at least).</summary>
    Held,
    /// <summary>The interval excludes the smallest effect that would count as the paper's: the claim did not hold here.</summary>
    NotHeld,
    /// <summary>The interval holds both no effect and the paper's effect, or there is no interval (a precondition is absent, too few seeds, an input is missing).</summary>
    Inconclusive,
}

/// <summary>
/// One row of the findings table at the top of the report: the paper's claim as an effect with a 95 % interval
/// and a verdict with its reason. The effect is signed so that the paper predicts a positive value.
/// </summary>
/// <param name="Claim">The paper's claim, in a sentence.</param>
/// <param name="Measured">What this run measured, with numbers.</param>
/// <param name="Verdict">Held, not held or inconclusive.</param>
/// <param name="Reason">Why this verdict (for inconclusive: what is missing or what the interval holds).</param>
/// <param name="EffectName">What <paramref name="Effect"/> measures, with its unit.</param>
/// <param name="Effect">The effect size (NaN when it could not be measured).</param>
/// <param name="CiLow">Lower end of the 95 % interval (NaN when there is none).</param>
/// <param name="CiHigh">Upper end of the 95 % interval (NaN when there is none).</param>
/// <param name="PaperEffect">The smallest effect that would count as the paper's (fixed before looking at results; docs/reproduce.md).</param>
/// <param name="Seeds">Seeds (models per group) the interval rests on; for a bootstrap over test examples, the models measured.</param>
/// <param name="Method">How the interval was made (e.g. "Welch t over seeds", "bootstrap over 2,000 test examples").</param>
/// <param name="SectionId">The section holding the evidence (a link), or null.</param>
public sealed record Finding(string Claim, string Measured, Verdict Verdict, string Reason, string EffectName,
                             double Effect, double CiLow, double CiHigh, double PaperEffect, int Seeds, string Method,
                             string? SectionId = null);

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
    IReadOnlyList<KeyValuePair<string, string>> Provenance)
{
    /// <summary>One PNG shown above the findings table (e.g. a forest plot of every finding's effect and interval), or null.</summary>
    public byte[]? FindingsFigure { get; init; }
}
