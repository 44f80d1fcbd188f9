using System.Globalization;
using System.Runtime.InteropServices;
using Repscope.Reporting;

namespace Repscope.Reproduce;

/// <summary>Turns the results of a reproduction into a <see cref="Report"/>: one section per experiment, findings on top.</summary>
public static class ReproduceReport
{
    /// <summary>Facts about the call itself, shown under provenance.</summary>
    public sealed record RunFacts(int Trained, int Resumed, int Reused, TimeSpan Elapsed, IReadOnlyList<string> Failures);

    public static Report Build(ReproduceResults r, RunFacts facts)
    {
        var plan = r.Plan;
        var sections = new List<ReportSection>
        {
            Section(r, "depth-width", "1. Depth and width",
                "Linear CKA (minibatch, paper Eq. 3) between every pair of layers of each model, on the test set; the block-structure detector marks the largest run of consecutive, mutually similar layers.",
                plan.DepthRow.Concat(plan.WidthRow).Distinct().SelectMany(s => Heatmap(r, s, "depth-width"))),
            Section(r, "less-data", "2. Less training data",
                "The width row trained on fewer images: the same within-model CKA, to see whether block structure appears in narrower models when data is scarce.",
                plan.LessDataRow.SelectMany(s => Heatmap(r, s, "less-data"))),
            Section(r, "no-residual", "3. Without residual connections",
                "Within-model CKA of the same depth and width with and without residual connections.",
                new[] { plan.NoResidual.With, plan.NoResidual.Without }.SelectMany(s => Heatmap(r, s, "no-residual"))),
            SeedsSection(r),
            Section(r, "first-component", "5. First principal component",
                "Fraction of variance explained by each layer's first principal component, next to the heatmap; layers in a block structure share a dominant first component.",
                plan.DepthRow.Concat(plan.WidthRow).Distinct().Where(r.Layers.ContainsKey)
                    .SelectMany(s => Heatmap(r, s, "first-component").Append(PcFigure(r, s)))),
            Section(r, "probes", "6. Linear probes",
                "Test accuracy of a linear classifier trained on each layer's representation, with the block structure marked.",
                plan.ProbeAndPrune.Where(r.Probes.ContainsKey).Select(s => new ReportFigure($"probe-{s.Name}", $"Linear probe accuracy, {s.Architecture}",
                    r.Probes[s].Png, Source(r, s), BlockCaption(r, s), r.Probes[s]))),
            Section(r, "pruning", "7. Deleting blocks",
                "Test accuracy as residual blocks are deleted from the end of each stage (each deleted block passes on its shortcut; no retraining), compared with the block structure.",
                plan.ProbeAndPrune.Where(r.Prunes.ContainsKey).Select(s => new ReportFigure($"prune-{s.Name}", $"Accuracy after deleting blocks, {s.Architecture}",
                    r.Prunes[s].Png, Source(r, s), BlockCaption(r, s), r.Prunes[s]))),
            ErrorsSection(r),
        };
        sections = [.. sections.Select(s => s with { Notes = [.. s.Notes, .. NotesFor(r, s.Id)], Columns = s.Id == "first-component" ? 2 : 0 })];

        var settings = r.Settings;
        string scale = plan.Scale == GridScale.Quick ? "the quick grid" : "the full grid";
        string summary = $"Experiments of Nguyen, Raghu & Kornblith, \"Do Wide and Deep Networks Learn the Same Things?\" (ICLR 2021), " +
                         $"run on {scale}: {plan.Runs.Count} models trained on {settings.Data}. " +
                         "An honest \"did not hold at this scale\" is a result: small data and short training change what appears.";
        var provenance = new List<KeyValuePair<string, string>>
        {
            new("grid", $"{plan.Scale.ToString().ToLowerInvariant()}: {plan.Runs.Count} runs ({facts.Trained} trained, {facts.Resumed} resumed, {facts.Reused} reused)"),
            new("data", settings.Data + (settings.DataPath is null ? " (shipped copy)" : $" ({settings.DataPath})")),
            new("recipe", string.Create(CultureInfo.InvariantCulture, $"SGD, lr {settings.LearningRate}, momentum {settings.Momentum}, weight decay {settings.WeightDecay}, batch {settings.BatchSize}, augmentation {(settings.Augment ? "on" : "off")}")),
            new("time", ProgressText.Duration(facts.Elapsed)),
            new("machine", $"{Environment.MachineName}, {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}"),
            new("repscope", typeof(ReproduceReport).Assembly.GetName().Version?.ToString() ?? "?"),
            new("generated", DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture)),
        };
        provenance.AddRange(facts.Failures.Select(f => new KeyValuePair<string, string>("failure", f)));
        var untrained = ReproduceFindings.Untrained(r);
        if (untrained.Count > 0)
        {
            summary += " Left out of the findings because they did not train (test accuracy below half the best model's): " +
                       string.Join(", ", untrained.Select(s => $"{s.Architecture} seed {s.Seed} ({ReproduceFindings.F(r.Layers[s].TestAccuracy)})")) + ".";
        }
        return new Report("Do wide and deep networks learn the same things? A Repscope reproduction",
                          summary, ReproduceFindings.Compute(r), sections, provenance);
    }

    private static ReportSection Section(ReproduceResults r, string id, string title, string measured, IEnumerable<ReportFigure> figures) =>
        new(id, title, measured, figures.ToList(), [], []);

    private static IEnumerable<string> NotesFor(ReproduceResults r, string sectionId)
    {
        var keys = sectionId switch
        {
            "seeds" => [ReproduceResults.SeedsKey],
            "errors" => [ReproduceResults.ErrorsKey],
            "probes" => r.NotRun.Keys.Where(k => k.StartsWith("probe ", StringComparison.Ordinal)),
            "pruning" => r.NotRun.Keys.Where(k => k.StartsWith("prune ", StringComparison.Ordinal)),
            "depth-width" or "less-data" or "no-residual" or "first-component" => r.NotRun.Keys.Where(k => k.StartsWith("layers ", StringComparison.Ordinal)),
            _ => Enumerable.Empty<string>(),
        };
        return keys.Where(r.NotRun.ContainsKey).Select(k => $"{k}: {r.NotRun[k]}");
    }

    private static FigureSource Source(ReproduceResults r, RunSpec s) =>
        new(s.Architecture, $"{r.Settings.Data}, {s.DataLabel}, {s.Epochs} epochs", s.Seed.ToString(CultureInfo.InvariantCulture));

    private static string? BlockCaption(ReproduceResults r, RunSpec s) =>
        r.Layers.TryGetValue(s, out var l)
            ? $"Block structure: {ReproduceFindings.Describe(l.Block, l.Layers)}; test accuracy {ReproduceFindings.F(l.TestAccuracy)}."
            : null;

    private static IEnumerable<ReportFigure> Heatmap(ReproduceResults r, RunSpec s, string section)
    {
        if (!r.Layers.TryGetValue(s, out var l)) { yield break; }
        yield return new ReportFigure($"{section}-cka-{s.Name}", $"Within-model CKA, {s.Architecture}", l.HeatmapPng, Source(r, s), BlockCaption(r, s),
            new { run = s.Name, l.Layers, l.Cka, l.Block, l.TestAccuracy });
    }

    private static ReportFigure PcFigure(ReproduceResults r, RunSpec s)
    {
        var l = r.Layers[s];
        return new ReportFigure($"pc1-{s.Name}", $"First principal component per layer, {s.Architecture}", l.PcPng, Source(r, s), BlockCaption(r, s),
            new { run = s.Name, l.Layers, l.Pc1Fraction, l.Block });
    }

    private static ReportSection SeedsSection(ReproduceResults r)
    {
        var (a, b) = r.Plan.SeedPair;
        var figures = Heatmap(r, a, "seeds").Concat(Heatmap(r, b, "seeds")).ToList();
        if (r.Seeds is { } c)
        {
            string? caption = null;
            if (r.Layers.TryGetValue(a, out var la) && la.Block is not null)
            {
                var (inside, outside) = ReproduceFindings.DiagonalInsideOutside(c, la.Layers, la.Block);
                caption = $"Same layer across seeds: mean CKA {ReproduceFindings.F(inside)} inside seed {a.Seed}'s block, {ReproduceFindings.F(outside)} outside.";
            }
            figures.Add(new ReportFigure($"seeds-{a.Name}-vs-{b.Seed}", $"Cross-model CKA, {a.Architecture}, seed {a.Seed} (rows) against seed {b.Seed} (columns)",
                c.HeatmapPng, new FigureSource(a.Architecture, $"{r.Settings.Data}, {a.DataLabel}, {a.Epochs} epochs", $"{a.Seed} vs {b.Seed}"), caption, c));
        }
        return new ReportSection("seeds", "4. Seeds",
            "CKA between the layers of two models of one architecture that differ only in their random seed, next to each model's own heatmap.",
            figures, [], []);
    }

    private static ReportSection ErrorsSection(ReproduceResults r)
    {
        var deep = r.Plan.ErrorsDeep;
        var wide = r.Plan.ErrorsWide;
        string seeds = string.Join(", ", deep.Select(s => s.Seed));
        var figures = new List<ReportFigure>();
        var tables = new List<ReportTable>();
        if (r.Errors is { } e)
        {
            figures.Add(new ReportFigure("errors-scatter", $"Per-example accuracy, {deep[0].Architecture} against {wide[0].Architecture}", e.ScatterPng,
                new FigureSource($"{deep[0].Architecture} vs {wide[0].Architecture}", $"{r.Settings.Data}, {deep[0].DataLabel}, {deep[0].Epochs} epochs", seeds),
                "Each point is a test example: its accuracy averaged over the seeds of each group; the control compares seeds of one architecture.", e));
            tables.Add(new ReportTable("Per-class accuracy, deep against wide, with corrected p-values",
                ["class", "accuracy (deep)", "accuracy (wide)", "difference", "p (corrected)", "significant"],
                [.. e.Classes.Select(c => (IReadOnlyList<string>)[c.Class, ReproduceFindings.F(c.AccuracyA), ReproduceFindings.F(c.AccuracyB),
                    (c.AccuracyA - c.AccuracyB).ToString("+0.000;-0.000;0.000", CultureInfo.InvariantCulture),
                    c.PValueCorrected.ToString("0.0000", CultureInfo.InvariantCulture), c.Significant ? "yes" : "no"])]));
        }
        return new ReportSection("errors", "8. Wide against deep at similar accuracy",
            $"Per-example and per-class differences between {deep.Count} seeds of {deep[0].Architecture} and {wide.Count} seeds of {wide[0].Architecture}, against a control of seeds of one architecture.",
            figures, tables, []);
    }
}
