using Repscope.Models;
using System.Globalization;
using System.Runtime.InteropServices;
using Repscope.Analysis;
using Repscope.Reporting;
using Repscope.Similarity;
using Repscope.Workflows;

namespace Repscope.Reproduce;

/// <summary>Turns the results of a reproduction into a <see cref="Report"/>: a forest plot and the findings on top, one section per experiment.</summary>
public static class ReproduceReport
{
    /// <summary>Facts about the call itself, shown under provenance.</summary>
    /// <param name="TrainedOn">The processors the runs were trained on, as their run.json records them (<see cref="CpuKernels.Describe(string, string)"/>).</param>
    public sealed record RunFacts(int Trained, int Resumed, int Reused, TimeSpan Elapsed, IReadOnlyList<string> Failures, IReadOnlyList<string>? TrainedOn = null);

    public static Report Build(ReproduceResults r, RunFacts facts)
    {
        var plan = r.Plan;
        var findings = ReproduceFindings.Compute(r);
        var sections = new List<ReportSection>
        {
            ModelsSection(r),
            Section(r, "width", "1. Width",
                "Linear CKA (minibatch, paper Eq. 3) between every pair of taps (the stem, each residual branch, each residual block's output) on all held-out images; the box marks the block-structure score's best square (docs/block-structure.md).",
                plan.WidthRow.SelectMany(s => Heatmap(r, s, "width"))),
            Section(r, "depth", "2. Depth", "The same maps along the depth row.",
                plan.DepthRow.SelectMany(s => Heatmap(r, s, "depth"))),
            MeasuresSection(r),
            Section(r, "less-data", "3. Less training data",
                "The width row's models trained on fewer images for as many SGD steps: does block structure appear at smaller capacity?",
                plan.LessDataRow.SelectMany(s => Heatmap(r, s, "less-data"))),
            Section(r, "no-residual", "4. Without residual connections",
                "Within-model CKA of the same depth and width with and without residual connections.",
                new[] { plan.NoResidual.With, plan.NoResidual.Without }.SelectMany(s => Heatmap(r, s, "no-residual"))),
            SeedsSection(r),
            Section(r, "first-component", "6. First principal component",
                "CKA after projecting out each layer's first principal component, for the block model and the block-free reference: the block structure should disappear in the first and the map change little in the second.",
                new[] { plan.WidthRow[^1], plan.WidthRow[0] }.SelectMany(s => Heatmap(r, s, "first-component", withoutPc1: true))),
            Section(r, "probes", "7. Linear probes",
                "Held-out accuracy of a linear classifier fitted on each tap's representation of training images, with the block structure marked.",
                plan.ProbeAndPrune.Where(r.Probes.ContainsKey).Select(s => new ReportFigure($"probe-{s.Name}", $"Linear probe accuracy, {s.Architecture}",
                    r.Probes[s].Png, Source(r, s), ScoreCaption(r, s), ProbeData(r.Probes[s].Result)))),
            Section(r, "pruning", "8. Deleting residual blocks",
                "Test accuracy as residual blocks are deleted from the end of each stage (each deleted block passes on its shortcut; no retraining), compared with the block structure.",
                plan.ProbeAndPrune.Where(r.Prunes.ContainsKey).Select(s => new ReportFigure($"prune-{s.Name}", $"Accuracy after deleting residual blocks, {s.Architecture}",
                    r.Prunes[s].Png, Source(r, s), ScoreCaption(r, s), PruneData(r.Prunes[s].Result.Result)))),
            ErrorsSection(r),
        };
        sections = [.. sections.Select(s => s with { Notes = [.. s.Notes, .. NotesFor(r, s.Id)] })];

        var settings = r.Settings;
        string scale = plan.Scale == GridScale.Quick ? "the quick grid" : "the full grid";
        int held = findings.Count(f => f.Verdict == Verdict.Held), notHeld = findings.Count(f => f.Verdict == Verdict.NotHeld);
        string summary = $"Experiments of Nguyen, Raghu & Kornblith, \"Do Wide and Deep Networks Learn the Same Things?\" (ICLR 2021), " +
                         $"run on {scale}: {plan.Runs.Count} models trained on {settings.Data}. Each claim is an effect with a 95 % interval " +
                         $"(over seeds for claims about models, over test examples for claims about one model): held when the interval lies above 0, " +
                         $"not held when it lies below the paper's smallest effect, inconclusive otherwise ({held} held, {notHeld} not held, " +
                         $"{findings.Count - held - notHeld} inconclusive).";
        var provenance = new List<KeyValuePair<string, string>>
        {
            new("grid", $"{plan.Scale.ToString().ToLowerInvariant()}: {plan.Runs.Count} runs ({facts.Trained} trained, {facts.Resumed} resumed, {facts.Reused} reused)"),
            new("data", settings.Data + (settings.DataPath is null ? " (shipped copy)" : $" ({settings.DataPath})")),
            new("recipe", string.Create(CultureInfo.InvariantCulture,
                $"SGD, lr {settings.LearningRate} with {settings.WarmupFraction:P0} warm-up then cosine decay, momentum {settings.Momentum}, weight decay {settings.WeightDecay}, batch {settings.BatchSize}, augmentation {(settings.Augment ? "on" : "off")}, test set evaluated {(settings.EvaluateEveryEpoch ? "after every epoch" : "after the last epoch")}")),
            new("time", ProgressText.Duration(facts.Elapsed)),
            new("machine", $"{Environment.MachineName}, {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, " +
                           CpuKernels.Describe(CpuKernels.Cpu, CpuKernels.Settings)),
            new("repscope", CommandProvenance.Build.GitCommit is { } commit ? $"{CommandProvenance.Build.Version}, commit {commit}" : CommandProvenance.Build.Version),
            new("generated", DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture)),
        };
        if (facts.TrainedOn is { Count: > 0 } cpus)
        {
            provenance.Insert(provenance.FindIndex(p => p.Key == "machine") + 1, new("trained on", string.Join("; ", cpus)));
        }
        // The command line, when the command-line tool made this report (not a library caller or a test host).
        if (System.Reflection.Assembly.GetEntryAssembly()?.GetName().Name == "Repscope.Cli")
        {
            provenance.Add(new("command", CommandProvenance.CommandLineText(Environment.GetCommandLineArgs().Skip(1))));
        }
        provenance.AddRange(facts.Failures.Select(f => new KeyValuePair<string, string>("failure", f)));
        var untrained = ReproduceFindings.Untrained(r);
        if (untrained.Count > 0)
        {
            summary += " Left out of the findings because they did not train (test accuracy below half the best model's): " +
                       string.Join(", ", untrained.Select(s => $"{s.Architecture} seed {s.Seed} ({ReproduceFindings.F(r.Layers[s].TestAccuracy)})")) + ".";
        }
        var forest = Plots.ForestPng("Every finding: effect and 95 % interval",
            [.. findings.Select((f, i) => new ForestRow($"{i + 1}. {Short(f.SectionId)}", f.Effect, f.CiLow, f.CiHigh, f.PaperEffect, f.Verdict))]);
        return new Report("Do wide and deep networks learn the same things? A Repscope reproduction", summary, findings, sections, provenance)
        {
            FindingsFigure = forest,
        };
    }

    private static string Short(string? section) => section switch
    {
        "width" => "wider: block",
        "depth" => "deeper: block",
        "less-data" => "less data: block",
        "no-residual" => "no residual: block",
        "seeds" => "seeds differ in block",
        "first-component" => "block is PC1",
        "probes" => "probes flat in block",
        "pruning" => "deleting in block cheap",
        "errors" => "wide vs deep errors",
        _ => section ?? "",
    };

    // A model can stand in a row twice (e.g. two seeds of one architecture, each shown by its first seed): one figure each.
    private static ReportSection Section(ReproduceResults r, string id, string title, string measured, IEnumerable<ReportFigure> figures) =>
        new(id, title, measured, figures.DistinctBy(f => f.Id).ToList(), [], []);

    private static IEnumerable<string> NotesFor(ReproduceResults r, string sectionId)
    {
        var keys = sectionId switch
        {
            "seeds" => [ReproduceResults.SeedsKey],
            "errors" => [ReproduceResults.ErrorsKey],
            "probes" => r.NotRun.Keys.Where(k => k.StartsWith("probe ", StringComparison.Ordinal)),
            "pruning" => r.NotRun.Keys.Where(k => k.StartsWith("prune ", StringComparison.Ordinal)),
            "measures" => r.NotRun.Keys.Where(k => k.StartsWith("measures ", StringComparison.Ordinal)),
            "width" or "depth" or "less-data" or "no-residual" or "first-component" => r.NotRun.Keys.Where(k => k.StartsWith("layers ", StringComparison.Ordinal)),
            _ => Enumerable.Empty<string>(),
        };
        return keys.Where(r.NotRun.ContainsKey).Select(k => $"{k}: {r.NotRun[k]}");
    }

    private static FigureSource Source(ReproduceResults r, RunSpec s) =>
        new(s.Architecture, $"{r.Settings.Data}, {s.DataLabel}, {s.Epochs} epochs", s.Seed.ToString(CultureInfo.InvariantCulture));

    private static string? ScoreCaption(ReproduceResults r, RunSpec s)
    {
        if (!r.Layers.TryGetValue(s, out var l)) { return null; }
        var score = ReproduceFindings.Score(l);
        string accuracy = r.Outcomes.TryGetValue(s, out var o)
            ? $"train accuracy {ReproduceFindings.F(o.TrainAccuracy)}, test accuracy {ReproduceFindings.F(o.TestAccuracy)}"
            : $"test accuracy {ReproduceFindings.F(l.TestAccuracy)}";
        return $"Block-structure strength {ReproduceFindings.F(score.Strength)} (mean excess {ReproduceFindings.F(score.MeanExcess)}, " +
               $"{score.ResidualBlocks ?? 0} residual blocks, {score.FirstLayer}..{score.LastLayer}); {accuracy}.";
    }

    /// <summary>The within-model heatmap of every seed of <paramref name="s"/> that was analysed, the best square drawn.</summary>
    private static IEnumerable<ReportFigure> Heatmap(ReproduceResults r, RunSpec s, string section, bool withoutPc1 = false)
    {
        foreach (var seed in r.Plan.Replicates(s).Take(1))
        {
            if (!r.Layers.TryGetValue(seed, out var l)) { continue; }
            var cka = withoutPc1 ? l.Pc.CkaWithoutPc1 : l.Pc.Cka;
            var layers = l.Pc.Layers;
            var score = ReproduceFindings.Score(layers, cka);
            string what = withoutPc1 ? "CKA without each layer's PC1" : "Within-model CKA";
            yield return new ReportFigure($"{section}-{(withoutPc1 ? "nopc1" : "cka")}-{seed.Name}", $"{what}, {seed.Architecture}, {seed.DataLabel}",
                HeatmapPng(layers, cka, $"{seed.Architecture}, {seed.DataLabel}, seed {seed.Seed}", score), Source(r, seed),
                withoutPc1 ? $"Strength without PC1 {ReproduceFindings.F(score.Strength)} (with it: {ReproduceFindings.F(ReproduceFindings.Score(l).Strength)})." : ScoreCaption(r, seed),
                new { run = seed.Name, Layers = layers, cka, score });
        }
    }

    private static byte[] HeatmapPng(IReadOnlyList<string> layers, double[][] cka, string title, BlockStructureScoreResult score)
    {
        int n = layers.Count;
        var values = new double[n, n];
        for (int i = 0; i < n; i++) { for (int j = 0; j < n; j++) { values[i, j] = cka[i][j]; } }
        var boundaries = LayerNames.StageBoundaries(layers);
        var options = new HeatmapOptions
        {
            RowBoundaries = boundaries,
            ColumnBoundaries = boundaries,
            Squares = score.Found ? [HeatmapSquare.Diagonal(score.First, score.Last, $"strength {ReproduceFindings.F(score.Strength)}")] : [],
        };
        var plot = Reporting.Heatmap.Build(new CkaMatrix(layers, layers, values), title, options, out int width, out int height);
        using var image = plot.GetImage(width, height);
        return image.GetImageBytes(ScottPlot.ImageFormat.Png);
    }

    // The figures' JSON of the probe and deletion curves, as the report has always written it.
    private static object ProbeData(ProbeResult probe)
    {
        var curve = ReproduceFindings.ProbeCurve(probe);
        return new { Layers = curve.Select(p => p.Layer).ToList(), Accuracy = curve.Select(p => p.Result.TestAccuracy).ToArray(), probe.TestExamples };
    }

    private static object PruneData(PruningResult p) => new
    {
        BaselineAccuracy = p.Baseline,
        Steps = p.Steps.Select(s => new { s.Stage, s.Deleted, NewlyDeleted = s.DeletedBlocks[0], s.Accuracy }).ToList(),
    };

    /// <summary>The models whose block structure is compared across similarity measures: the last (blockiest) of the depth row and of the width row.</summary>
    public static IReadOnlyList<RunSpec> MeasureRuns(ExperimentPlan plan) => [.. new[] { plan.DepthRow[^1], plan.WidthRow[^1] }.Distinct()];

    /// <summary>"Is it the measure or the network?": each model of <see cref="MeasureRuns"/> under linear CKA, RBF CKA, SVCCA and
    /// Procrustes (<see cref="MeasureRobustnessSection"/>), one model after the other, with each model's sentence in numbers.</summary>
    private static ReportSection MeasuresSection(ReproduceResults r)
    {
        var built = MeasureRuns(r.Plan).Where(r.Measures.ContainsKey)
            .Select(s => (Spec: s, Section: MeasureRobustnessSection.Build(r.Measures[s], Source(r, s), $"measures-{s.Name}"))).ToList();
        string measured = "Is the block structure a property of the network or of CKA? The depth row's and the width row's last models on their first " +
                          "test images under four measures (docs/measures.md). " +
                          string.Join(" ", built.Select(b => $"{b.Spec.Architecture}, {b.Spec.DataLabel}, seed {b.Spec.Seed}: {b.Section.Measured}"));
        return new ReportSection("measures", "2b. Block structure under other similarity measures", measured,
            [.. built.SelectMany(b => b.Section.Figures.Select(f => f with { Title = $"{b.Spec.Architecture}: {f.Title}", Data = MapData(b.Spec, f.Data) }))],
            [.. built.SelectMany(b => b.Section.Tables.Select(t => t with { Caption = $"{b.Spec.Architecture}, seed {b.Spec.Seed}. {t.Caption}" }))],
            built.Count > 0 ? built[0].Section.Notes : [])
        { Columns = 2 };
    }

    // The figure's JSON: the map as rows of values (JSON has no 2-d arrays) with its scores.
    private static object? MapData(RunSpec s, object? data) => data is not MeasureMap m ? data : new
    {
        run = s.Name, m.Name, m.Measure, m.Description, layers = m.Map.Rows, values = m.Map.ValueRows(), score = m.Score, m.Level,
        m.OverlapWithLinearCka, m.RankCorrelationWithLinearCka, m.Undefined,
    };

    private static ReportSection ModelsSection(ReproduceResults r)
    {
        var rows = r.Plan.Runs.Where(r.Outcomes.ContainsKey).Select(s =>
        {
            var o = r.Outcomes[s];
            return (IReadOnlyList<string>)[s.Name, s.Architecture, s.DataLabel, s.Epochs.ToString(CultureInfo.InvariantCulture),
                s.Seed.ToString(CultureInfo.InvariantCulture), ReproduceFindings.F(o.TrainAccuracy), ReproduceFindings.F(o.TestAccuracy),
                r.Layers.TryGetValue(s, out var l) ? ReproduceFindings.F(ReproduceFindings.Score(l).Strength) : ""];
        }).ToList();
        var table = new ReportTable("Every model: final training accuracy (last epoch, while training), test accuracy on all held-out images, block-structure strength",
            ["run", "architecture", "data", "epochs", "seed", "train accuracy", "test accuracy", "strength"], rows);
        var figures = new List<ReportFigure>();
        var seed1 = r.Plan.Runs.Where(s => s.Seed == 1 && r.Outcomes.ContainsKey(s)).ToList();
        if (seed1.Count > 0)
        {
            var series = seed1.Select(s => new Series(s.Name, [.. r.Outcomes[s].Curve.Select(e => (double)e.Epoch / s.Epochs)],
                                                      [.. r.Outcomes[s].Curve.Select(e => e.TrainAccuracy)]) { MarkerSize = 0 }).ToList();
            var png = Plots.LinesPng("Learning curves (seed 1): training accuracy per epoch", "fraction of training done", "training accuracy",
                                     series, new PlotOptions { YLimits = (0, 1.02), Legend = true, Width = 1000, Height = 650 });
            figures.Add(new ReportFigure("models-learning-curves", "Learning curves of every seed-1 model", png,
                new FigureSource("every seed-1 model", r.Settings.Data, "1"), "Training accuracy after each epoch, x scaled to each run's epochs (the less-data runs have 4x as many).",
                seed1.Select(s => new { run = s.Name, r.Outcomes[s].Curve }).ToList()));
        }
        return new ReportSection("models", "0. The models", "How each model trained: near interpolation of its training images is the paper's regime.",
            figures, rows.Count > 0 ? [table] : [], []);
    }

    private static ReportSection SeedsSection(ReproduceResults r)
    {
        var (a, b) = r.Plan.SeedPair;
        var figures = new List<ReportFigure>();
        if (r.Seeds is { } c)
        {
            string? caption = null;
            if (r.Layers.TryGetValue(a, out var la))
            {
                var score = ReproduceFindings.Score(la);
                var (inside, outside) = ReproduceFindings.DiagonalInsideOutside(c.Result, la.Pc.Layers, score.First, score.Last);
                caption = $"Same layer across seeds: mean CKA {ReproduceFindings.F(inside)} inside seed {a.Seed}'s best square ({score.FirstLayer}..{score.LastLayer}), {ReproduceFindings.F(outside)} outside.";
            }
            figures.Add(new ReportFigure($"seeds-{a.Name}-vs-{b.Seed}", $"Cross-model CKA, {a.Architecture}, seed {a.Seed} (rows) against seed {b.Seed} (columns)",
                c.Png, new FigureSource(a.Architecture, $"{r.Settings.Data}, {a.DataLabel}, {a.Epochs} epochs", $"{a.Seed} vs {b.Seed}"), caption,
                new { Rows = c.Result.RowLayers, Columns = c.Result.ColumnLayers, c.Result.Cka }));
        }
        return new ReportSection("seeds", "5. Seeds",
            "CKA between the layers of two models of one architecture that differ only in their random seed.", figures, [], []);
    }

    private static ReportSection ErrorsSection(ReproduceResults r)
    {
        var deep = r.Plan.ErrorsDeep;
        var wide = r.Plan.ErrorsWide;
        string seeds = string.Join(", ", deep.Select(s => s.Seed));
        var figures = new List<ReportFigure>();
        if (r.Errors is { } e)
        {
            figures.Add(new ReportFigure("errors-scatter", $"Per-example accuracy, {deep[0].Architecture} against {wide[0].Architecture}", e.ScatterPng,
                new FigureSource($"{deep[0].Architecture} vs {wide[0].Architecture}", $"{r.Settings.Data}, {deep[0].DataLabel}, {deep[0].Epochs} epochs", seeds),
                "Each point is a test example: its accuracy averaged over the seeds of each group. " + e.Measured + ".",
                new { e.AccuraciesA, e.AccuraciesB, e.Measured, effect = e.Effect.Estimate, ciLow = e.Effect.Low, ciHigh = e.Effect.High }));
        }
        return new ReportSection("errors", "9. Wide against deep at similar accuracy",
            $"Disagreement between {deep.Count} seeds of {deep[0].Architecture} and {wide.Count} seeds of {wide[0].Architecture}, against the disagreement between seeds of one architecture (equal numbers of seeds in both groups).",
            figures, [], []);
    }
}
