using System.Globalization;
using Repscope.Analysis;
using Repscope.Analysis.Statistics;
using Repscope.Models;
using Repscope.Reporting;
using Repscope.Workflows;

namespace Repscope.Reproduce;

/// <summary>
/// The findings table: each of the paper's claims as an effect with a 95 % interval and a verdict
/// (docs/reproduce.md). Pure functions of the analysis results. Every effect is signed so that the paper
/// predicts a positive value; "held" needs the interval above 0, "not held" needs it below the paper's
/// smallest effect (the <c>...Effect</c> constants, fixed before any result was seen), anything else is
/// inconclusive, with the reason.
/// </summary>
public static class ReproduceFindings
{
    /// <summary>Block-structure strength (mean excess x coverage, <see cref="BlockStructureScore"/>): the smallest difference that counts as
    /// the paper's "block structure appears" (a square over a quarter of the layers, 0.2 brighter than the block-free reference).</summary>
    public const double BlockStrengthEffect = 0.05;

    /// <summary>First component: the strength removed by projecting out each layer's PC1, beyond what the same removal takes from the block-free model.</summary>
    public const double Pc1Effect = 0.05;

    /// <summary>Seeds: same-layer cross-seed CKA outside the block structure minus inside (the paper's Fig. 5 shows ~0.5).</summary>
    public const double SeedCkaEffect = 0.10;

    /// <summary>Probes: probe accuracy gained per residual block before the block structure minus across it (the paper's Fig. 7: accuracy rises, then plateaus).</summary>
    public const double ProbeGainEffect = 0.01;

    /// <summary>Deletion: test accuracy lost per deleted residual block outside the block structure minus inside it (the paper's Fig. 8).</summary>
    public const double PruneDropEffect = 0.01;

    /// <summary>Errors: the between-group statistic over the seed-shuffled ones (see <see cref="ErrorsResult"/>).</summary>
    public const double ErrorsEffect = 0.01;

    /// <summary>Errors: the two groups' mean test accuracies count as similar when their difference is within this.</summary>
    public const double AccuracyMatchTolerance = 0.02;

    /// <summary>A model whose test accuracy is below this fraction of the best analysed model's did not train; it is left out of the findings.</summary>
    public const double TrainedFraction = 0.5;

    /// <summary>Confidence level of every interval.</summary>
    public const double Level = 0.95;

    /// <summary>Runs left out of the findings because they did not train (see <see cref="TrainedFraction"/>).</summary>
    public static IReadOnlyList<RunSpec> Untrained(ReproduceResults r)
    {
        if (r.Layers.Count == 0) { return []; }
        double best = r.Layers.Values.Max(l => double.IsNaN(l.TestAccuracy) ? 0 : l.TestAccuracy);
        return [.. r.Layers.Where(kv => !(kv.Value.TestAccuracy >= TrainedFraction * best)).Select(kv => kv.Key).OrderBy(s => s.Name, StringComparer.Ordinal)];
    }

    public static IReadOnlyList<Finding> Compute(ReproduceResults results)
    {
        var r = results.Without(Untrained(results));
        return
        [
            Growth(r, "Block structure appears as networks get wider.", r.Plan.WidthRow, "width"),
            Growth(r, "Block structure appears as networks get deeper.", r.Plan.DepthRow, "depth"),
            LessData(r),
            NoResidual(r),
            Seeds(r),
            FirstComponent(r),
            Probes(r),
            Pruning(r),
            Errors(r),
        ];
    }

    // ---- the verdict ------------------------------------------------------------------------------------

    /// <summary>
    /// The verdict of an effect with its interval: held when the interval lies above 0; not held when it lies below
    /// <paramref name="paperEffect"/>; inconclusive otherwise, and when there is no interval.
    /// </summary>
    public static (Verdict Verdict, string Reason) Decide(double low, double high, double paperEffect, string? undefined = null)
    {
        if (undefined is not null || double.IsNaN(low) || double.IsNaN(high))
        {
            return (Verdict.Inconclusive, "no interval: " + (undefined ?? "the effect could not be measured"));
        }
        string ci = $"95 % interval [{F(low)}, {F(high)}]";
        if (low > 0)
        {
            return (Verdict.Held, high < paperEffect
                ? $"{ci} lies above 0 (smaller than the paper's effect, {F(paperEffect)})"
                : $"{ci} lies above 0");
        }
        if (high < paperEffect)
        {
            return (Verdict.NotHeld, $"{ci} lies below the smallest effect that counts as the paper's ({F(paperEffect)})");
        }
        return (Verdict.Inconclusive, $"{ci} holds both 0 and the paper's effect ({F(paperEffect)}): too uncertain to decide");
    }

    /// <summary>A finding from an interval (the estimate is the effect).</summary>
    public static Finding FromInterval(string claim, string measured, string effectName, Interval ci, double paperEffect, int seeds,
                                       string method, string section)
    {
        var (verdict, reason) = Decide(ci.Low, ci.High, paperEffect, ci.Undefined);
        return new Finding(claim, measured, verdict, reason, effectName, ci.Estimate, ci.Low, ci.High, paperEffect, seeds, method, section);
    }

    /// <summary>An inconclusive finding whose effect could not be measured (an input or a precondition is missing).</summary>
    public static Finding Missing(string claim, string reason, string effectName, double paperEffect, string section, string measured = "") =>
        new(claim, measured.Length > 0 ? measured : reason, Verdict.Inconclusive, reason, effectName, double.NaN, double.NaN, double.NaN,
            paperEffect, 0, "", section);

    // ---- block strength -----------------------------------------------------------------------------------

    /// <summary>The block-structure score of a within-model map (the taps of <see cref="LibraryBackend.LayerTaps"/>).</summary>
    public static BlockStructureScoreResult Score(IReadOnlyList<string> layers, double[][] cka) =>
        BlockStructureScore.Score(ToArray(cka), layers, BlockStructureScore.ResidualBlockUnits(layers));

    public static BlockStructureScoreResult Score(WithinModelMaps l) => Score(l.Pc.Layers, l.Pc.Cka);

    /// <summary>The score after removing each layer's first principal component.</summary>
    public static BlockStructureScoreResult ScoreWithoutPc1(WithinModelMaps l) => Score(l.Pc.Layers, l.Pc.CkaWithoutPc1);

    /// <summary>The strengths of the seeds of <paramref name="spec"/> that were analysed.</summary>
    private static List<double> Strengths(ReproduceResults r, RunSpec spec, Func<WithinModelMaps, double>? measure = null) =>
        [.. r.Plan.Replicates(spec).Where(r.Layers.ContainsKey).Select(s => (measure ?? (l => Score(l).Strength))(r.Layers[s]))];

    private static string Seeds(IReadOnlyList<double> xs) => string.Join(", ", xs.Select(F));

    private const string StrengthName = "difference of block-structure strength (mean excess x coverage)";

    private static Finding Growth(ReproduceResults r, string claim, IReadOnlyList<RunSpec> row, string section)
    {
        var have = row.Where(s => Strengths(r, s).Count >= 2).ToList();
        if (have.Count < 2 || have[^1] != row[^1] || have[0] != row[0])
        {
            return Missing(claim, "the row's smallest and largest models were not both analysed with at least 2 seeds", StrengthName, BlockStrengthEffect, section);
        }
        var small = Strengths(r, row[0]);
        var large = Strengths(r, row[^1]);
        string measured = string.Join("; ", have.Select(s => $"{s.Architecture}: strength {Seeds(Strengths(r, s))}"));
        var ci = Intervals.WelchDifference(large, small, Level);
        return FromInterval(claim, measured + $" (seeds; {row[^1].Architecture} minus {row[0].Architecture})", StrengthName, ci,
                            BlockStrengthEffect, Math.Min(small.Count, large.Count), "Welch t over seeds", section);
    }

    /// <summary>The full-data counterpart of a less-data run: the same architecture in the width or depth row.</summary>
    public static RunSpec? FullDataCounterpart(ExperimentPlan plan, RunSpec less) =>
        plan.WidthRow.Concat(plan.DepthRow).FirstOrDefault(f => f.Depth == less.Depth && f.Width == less.Width && f.Residual == less.Residual && f.TrainExamples != less.TrainExamples);

    private static Finding LessData(ReproduceResults r)
    {
        const string claim = "With less training data (and as many SGD steps), block structure appears at smaller capacity.";
        const string name = "strength with less data minus with all the row's data, same architecture and seed";
        var differences = new List<double>();
        var parts = new List<string>();
        foreach (var less in r.Plan.LessDataRow)
        {
            if (FullDataCounterpart(r.Plan, less) is not { } full) { continue; }
            foreach (int seed in Enumerable.Range(1, r.Plan.Seeds))
            {
                if (r.Layers.TryGetValue(less.WithSeed(seed), out var l) && r.Layers.TryGetValue(full.WithSeed(seed), out var f))
                {
                    differences.Add(Score(l).Strength - Score(f).Strength);
                }
            }
            parts.Add($"{less.Architecture}: {full.DataLabel} {Seeds(Strengths(r, full))}, {less.DataLabel} {Seeds(Strengths(r, less))}");
        }
        if (differences.Count < 2) { return Missing(claim, "fewer than 2 pairs of less-data and full-data models were analysed", name, BlockStrengthEffect, "less-data"); }
        var ci = Intervals.Mean(differences, Level);
        return FromInterval(claim, string.Join("; ", parts), name, ci, BlockStrengthEffect, r.Plan.Seeds,
                            $"t interval over {differences.Count} (architecture, seed) pairs", "less-data");
    }

    private static Finding NoResidual(ReproduceResults r)
    {
        const string claim = "Block structure also forms in networks without residual connections.";
        const string name = "strength of the net without residual connections minus the block-free reference (narrowest width-row model)";
        var (with, without) = r.Plan.NoResidual;
        if (r.Plan.WidthRow.Count == 0) { return Missing(claim, "the plan has no width row for a block-free reference", name, BlockStrengthEffect, "no-residual"); }
        var reference = r.Plan.WidthRow[0];
        var plain = Strengths(r, without);
        var free = Strengths(r, reference);
        if (plain.Count < 2 || free.Count < 2)
        {
            return Missing(claim, "the net without residual connections or the block-free reference was not analysed with at least 2 seeds", name, BlockStrengthEffect, "no-residual");
        }
        string measured = $"{without.Architecture}: strength {Seeds(plain)}; {with.Architecture}: {Seeds(Strengths(r, with))}; reference {reference.Architecture}: {Seeds(free)}";
        return FromInterval(claim, measured, name, Intervals.WelchDifference(plain, free, Level), BlockStrengthEffect,
                            Math.Min(plain.Count, free.Count), "Welch t over seeds", "no-residual");
    }

    // ---- seeds ------------------------------------------------------------------------------------------

    /// <summary>Indices of the cross-model map's diagonal (same layer name in both models) inside and outside [first, last] of <paramref name="layers"/>.</summary>
    public static (double Inside, double Outside) DiagonalInsideOutside(CompareResult c, IReadOnlyList<string> layers, int first, int last)
    {
        var inside = new List<double>();
        var outside = new List<double>();
        for (int i = 0; i < layers.Count; i++)
        {
            int row = IndexOf(c.RowLayers, layers[i]), col = IndexOf(c.ColumnLayers, layers[i]);
            if (row < 0 || col < 0 || double.IsNaN(c.Cka[row][col])) { continue; }
            (i >= first && i <= last ? inside : outside).Add(c.Cka[row][col]);
        }
        return (Mean(inside), Mean(outside));
    }

    /// <summary>
    /// Whether every analysed seed of the block model shows a block structure at least the paper's size (the precondition of
    /// the per-model claims). Every seed, not the one the claim is measured on: one seed's point strength near the gate made
    /// the verdicts of a 1-thread and a 2-thread run of the same grid differ (docs/reproduce.md, runs A and B).
    /// </summary>
    private static string? BlockPrecondition(ReproduceResults r, RunSpec model)
    {
        if (!r.Layers.ContainsKey(model)) { return $"{model.Name} was not analysed"; }
        var strengths = Strengths(r, model);
        return strengths.Min() >= BlockStrengthEffect ? null
            : $"precondition absent: {model.Architecture} has no block structure of the paper's size in every seed (strengths {Seeds(strengths)}; needed >= {F(BlockStrengthEffect)})";
    }

    private static Finding Seeds(ReproduceResults r)
    {
        const string claim = "Inside the block structure, two seeds of one architecture learn different representations; outside, similar ones.";
        const string name = "same-layer cross-seed CKA outside the block structure minus inside";
        var (a, b) = r.Plan.SeedPair;
        if (r.Seeds is null) { return Missing(claim, "the seed comparison was not run", name, SeedCkaEffect, "seeds"); }
        if (BlockPrecondition(r, a) is { } why) { return Missing(claim, why, name, SeedCkaEffect, "seeds"); }
        var layers = r.Layers[a].Pc.Layers;
        var score = Score(r.Layers[a]);
        var map = r.Seeds.Result;
        var (inside, outside) = DiagonalInsideOutside(map, layers, score.First, score.Last);
        string measured = $"CKA between the same layer of seeds {a.Seed} and {b.Seed}: {F(inside)} inside {score.FirstLayer}..{score.LastLayer}, {F(outside)} outside";
        var ci = Bootstrap(map, m => { var (i, o) = DiagonalInsideOutside(map with { Cka = m }, layers, score.First, score.Last); return o - i; });
        if (ci is null)
        {
            return Missing(claim, "no interval: the cross-seed map has no bootstrap over test examples", name, SeedCkaEffect, "seeds", measured);
        }
        return FromInterval(claim, measured, name, ci, SeedCkaEffect, 1, $"bootstrap over {ci.N} test examples", "seeds");
    }

    /// <summary>
    /// A percentile bootstrap over test examples of <paramref name="statistic"/> of a cross-model map: the map's minibatches
    /// resampled (seeded, the same for any thread count) and the map recomputed. Null when the map keeps fewer than 2
    /// minibatches' HSIC values (<see cref="CompareResult.BatchState"/>; a map read back from JSON keeps none).
    /// </summary>
    public static Interval? Bootstrap(CompareResult map, Func<double[][], double> statistic)
    {
        if (map.BatchState is not { Batches: >= 2 } state) { return null; }
        var replicates = state.Bootstrap(Intervals.DefaultReplicates, Intervals.DefaultSeed).Select(m => statistic(m.ValueRows())).ToArray();
        return Intervals.Percentile(statistic(map.Cka), replicates, (int)map.Examples, seed: Intervals.DefaultSeed);
    }

    // ---- first component -----------------------------------------------------------------------------------

    private static Finding FirstComponent(ReproduceResults r)
    {
        const string claim = "The block structure is carried by the first principal component: without it, the block disappears.";
        const string name = "strength removed by projecting out each layer's PC1, block model minus block-free reference";
        if (r.Plan.WidthRow.Count < 2) { return Missing(claim, "the plan has no width row for a block model and a block-free reference", name, Pc1Effect, "first-component"); }
        var block = r.Plan.WidthRow[^1];
        var reference = r.Plan.WidthRow[0];
        double Drop(WithinModelMaps l) => Score(l).Strength - ScoreWithoutPc1(l).Strength;
        var a = Strengths(r, block, Drop);
        var b = Strengths(r, reference, Drop);
        if (a.Count < 2 || b.Count < 2)
        {
            return Missing(claim, "the block model or the block-free reference was not analysed with at least 2 seeds", name, Pc1Effect, "first-component");
        }
        if (BlockPrecondition(r, block) is { } why) { return Missing(claim, why, name, Pc1Effect, "first-component"); }
        string measured = $"{block.Architecture}: strength {Seeds(Strengths(r, block))}, without PC1 {Seeds(Strengths(r, block, l => ScoreWithoutPc1(l).Strength))}; " +
                          $"{reference.Architecture}: {Seeds(Strengths(r, reference))}, without PC1 {Seeds(Strengths(r, reference, l => ScoreWithoutPc1(l).Strength))}";
        return FromInterval(claim, measured, name, Intervals.WelchDifference(a, b, Level), Pc1Effect, Math.Min(a.Count, b.Count),
                            "Welch t over seeds", "first-component");
    }

    // ---- probes and deletion ------------------------------------------------------------------------------

    private static Finding Probes(ReproduceResults r)
    {
        const string claim = "Linear probe accuracy rises outside the block structure and barely changes across it.";
        const string name = "probe accuracy gained per residual block before the block structure minus across it";
        if (r.Plan.ProbeAndPrune.Count == 0) { return Missing(claim, "the plan probes no model", name, ProbeGainEffect, "probes"); }
        var model = r.Plan.ProbeAndPrune[0];
        if (!r.Probes.TryGetValue(model, out var probe)) { return Missing(claim, $"{model.Name} was not probed", name, ProbeGainEffect, "probes"); }
        if (BlockPrecondition(r, model) is { } why) { return Missing(claim, why, name, ProbeGainEffect, "probes"); }
        var score = Score(r.Layers[model]);
        var ci = ProbeGainInterval(probe.Result, r.Layers[model].Pc.Layers, score);
        if (ci is null) { return Missing(claim, "the block structure starts at the first residual block: no span before it to compare with", name, ProbeGainEffect, "probes"); }
        string measured = $"{model.Architecture}, block structure {score.FirstLayer}..{score.LastLayer}: {F(ci.Estimate)} more accuracy per residual block before it than across it (probes fitted on one half of the shuffled test images, tested on the other {probe.Result.TestExamples})";
        return FromInterval(claim, measured, name, ci, ProbeGainEffect, 1, ci.Undefined is null ? $"paired bootstrap over {ci.N} held-out examples" : "", "probes");
    }

    /// <summary>The probe curve across depth: the probes of the stem and the residual block outputs (the branches sit between them), in order.</summary>
    public static IReadOnlyList<LayerProbe> ProbeCurve(ProbeResult probe) => [.. probe.Probes.Where(p => !LayerNames.IsBranch(p.Layer))];

    /// <summary>
    /// (gain per residual block from the stem to the block structure's first layer) - (gain per residual block from its first
    /// to its last layer), on the probes' per-example correctness, with a paired bootstrap over the held-out examples.
    /// Null when the block structure starts at the stem.
    /// </summary>
    public static Interval? ProbeGainInterval(ProbeResult probe, IReadOnlyList<string> layers, BlockStructureScoreResult score)
    {
        var units = BlockStructureScore.ResidualBlockUnits(layers);
        var curve = ProbeCurve(probe);
        var curveLayers = curve.Select(p => p.Layer).ToList();
        // The probe curve runs along the block outputs: a branch tap stands for its residual block's output.
        static string Output(string tap) => tap.EndsWith(".branch", StringComparison.Ordinal) ? tap[..^".branch".Length] : tap;
        int start = IndexOf(curveLayers, Output(layers[score.First])), end = IndexOf(curveLayers, Output(layers[score.Last])), stem = 0;
        if (start <= 0 || end < 0) { return null; }
        double before = Math.Max(1, units[score.First] + 1), across = Math.Max(1, units[score.Last] - units[score.First]);
        if (curve.Any(p => p.Result.TestCorrect is null))
        {
            double Accuracy(int k) => curve[k].Result.TestAccuracy;
            double e = (Accuracy(start) - Accuracy(stem)) / before - (Accuracy(end) - Accuracy(start)) / across;
            return new Interval(e, double.NaN, double.NaN, Level, IntervalMethod.PairedBootstrap, 0,
                                Undefined: "the probes kept no per-example correctness");
        }
        bool[] s0 = [.. curve[stem].Result.TestCorrect!], s1 = [.. curve[start].Result.TestCorrect!], s2 = [.. curve[end].Result.TestCorrect!];
        return Intervals.Bootstrap(s0.Length, idx =>
        {
            double a0 = 0, a1 = 0, a2 = 0;
            foreach (int i in idx) { a0 += s0[i] ? 1 : 0; a1 += s1[i] ? 1 : 0; a2 += s2[i] ? 1 : 0; }
            a0 /= idx.Length; a1 /= idx.Length; a2 /= idx.Length;
            return (a1 - a0) / before - (a2 - a1) / across;
        }, Intervals.DefaultReplicates, Intervals.DefaultSeed, Level);
    }

    private static Finding Pruning(ReproduceResults r)
    {
        const string claim = "Deleting residual blocks inside the block structure costs less accuracy than deleting blocks outside it.";
        const string name = "accuracy lost per deleted residual block outside the block structure minus inside";
        if (r.Plan.ProbeAndPrune.Count == 0) { return Missing(claim, "the plan deletes blocks of no model", name, PruneDropEffect, "pruning"); }
        var model = r.Plan.ProbeAndPrune[0];
        if (!r.Prunes.TryGetValue(model, out var prune)) { return Missing(claim, $"{model.Name} was not pruned", name, PruneDropEffect, "pruning"); }
        if (BlockPrecondition(r, model) is { } why) { return Missing(claim, why, name, PruneDropEffect, "pruning"); }
        var score = Score(r.Layers[model]);
        var ci = PruneDropInterval(prune.Result.Result, r.Layers[model].Pc.Layers, score);
        if (ci is null) { return Missing(claim, "no deletion step fell inside or none outside the block structure", name, PruneDropEffect, "pruning"); }
        string measured = $"{model.Architecture}, block structure {score.FirstLayer}..{score.LastLayer}: {F(ci.Estimate)} more accuracy lost per residual block deleted outside it than inside";
        return FromInterval(claim, measured, name, ci, PruneDropEffect, 1, ci.Undefined is null ? $"paired bootstrap over {ci.N} test examples" : "", "pruning");
    }

    /// <summary>
    /// Mean marginal accuracy drop of deleting one more residual block from the end of a stage, for newly deleted blocks
    /// outside minus inside the block structure (a deleted block is inside when its output tap is), with a paired bootstrap over
    /// test examples on the per-example correctness of each step. Null when no step falls inside or none outside.
    /// </summary>
    public static Interval? PruneDropInterval(PruningResult p, IReadOnlyList<string> layers, BlockStructureScoreResult score)
    {
        var steps = new List<(bool Inside, int Before, int After)>(); // indices into the correctness list: -1 = baseline
        var index = new Dictionary<(int Stage, int Deleted), int>();
        for (int k = 0; k < p.Steps.Count; k++) { index[(p.Steps[k].Stage, p.Steps[k].Deleted)] = k; }
        for (int k = 0; k < p.Steps.Count; k++)
        {
            var s = p.Steps[k];
            int i = IndexOf(layers, s.DeletedBlocks[0]);   // the block this step deletes on top of the previous one
            if (i < 0) { continue; }
            int before = s.Deleted <= 1 ? -1 : index.GetValueOrDefault((s.Stage, s.Deleted - 1), int.MinValue);
            if (before == int.MinValue) { continue; }
            steps.Add((i >= score.First && i <= score.Last, before, k));
        }
        if (!steps.Any(s => s.Inside) || !steps.Any(s => !s.Inside)) { return null; }
        double Statistic(Func<int, double> accuracy)
        {
            double In(bool inside) => steps.Where(s => s.Inside == inside).Average(s => accuracy(s.Before) - accuracy(s.After));
            return In(false) - In(true);
        }
        if (p.BaselineCorrect is null || p.Steps.Any(s => s.Correct is null))
        {
            double e = Statistic(k => k < 0 ? p.Baseline : p.Steps[k].Accuracy);
            return new Interval(e, double.NaN, double.NaN, Level, IntervalMethod.PairedBootstrap, 0, Undefined: "the deletion kept no per-example correctness");
        }
        bool[] baseline = [.. p.BaselineCorrect];
        bool[][] correct = [.. p.Steps.Select(s => s.Correct!.ToArray())];
        return Intervals.Bootstrap(baseline.Length, idx =>
        {
            double Acc(int k)
            {
                bool[] c = k < 0 ? baseline : correct[k];
                int hits = 0;
                foreach (int i in idx) { hits += c[i] ? 1 : 0; }
                return hits / (double)idx.Length;
            }
            return Statistic(Acc);
        }, Intervals.DefaultReplicates, Intervals.DefaultSeed, Level);
    }

    // ---- errors -----------------------------------------------------------------------------------------

    private static Finding Errors(ReproduceResults r)
    {
        const string claim = "Wide and deep models of similar accuracy make systematically different errors (more than seeds of one architecture do).";
        const string name = "fraction of test examples on which a deep and a wide model disagree, minus two seeds of one architecture";
        if (r.Errors is not { } e) { return Missing(claim, "the errors comparison was not run", name, ErrorsEffect, "errors"); }
        var accuracy = Intervals.WelchDifference(e.AccuraciesA, e.AccuraciesB, Level);
        string match = $"accuracy {F(e.AccuraciesA.Average())} (deep) vs {F(e.AccuraciesB.Average())} (wide), difference {F(accuracy.Estimate)} [{F(accuracy.Low)}, {F(accuracy.High)}]";
        string measured = $"{match}; {e.Measured}";
        if (!(Math.Abs(accuracy.Estimate) <= AccuracyMatchTolerance))
        {
            return Missing(claim, $"precondition absent: the groups' accuracies differ by {F(Math.Abs(accuracy.Estimate))} (> {F(AccuracyMatchTolerance)}), so different errors would be expected anyway", name, ErrorsEffect, "errors", measured);
        }
        return FromInterval(claim, measured, name, e.Effect, ErrorsEffect, Math.Min(e.AccuraciesA.Count, e.AccuraciesB.Count), e.Method, "errors");
    }

    /// <summary>
    /// Mean disagreement (fraction of examples on which two runs predict different classes) over the pairs of one run of
    /// <paramref name="a"/> and one of <paramref name="b"/>, and over the pairs of two runs of the same group; on the examples
    /// <paramref name="idx"/> (null: all).
    /// </summary>
    public static (double Between, double Within) Disagreements(IReadOnlyList<long[]> a, IReadOnlyList<long[]> b, int[]? idx)
    {
        int n = a[0].Length;
        double Dis(long[] x, long[] y)
        {
            int d = 0;
            if (idx is null) { for (int i = 0; i < n; i++) { d += x[i] != y[i] ? 1 : 0; } return d / (double)n; }
            foreach (int i in idx) { d += x[i] != y[i] ? 1 : 0; }
            return d / (double)idx.Length;
        }
        var between = a.SelectMany(x => b.Select(y => Dis(x, y))).Average();
        var within = new List<double>();
        foreach (var g in new[] { a, b })
        {
            for (int i = 0; i < g.Count; i++) { for (int j = i + 1; j < g.Count; j++) { within.Add(Dis(g[i], g[j])); } }
        }
        return (between, within.Count == 0 ? double.NaN : within.Average());
    }

    /// <summary>
    /// The errors effect: disagreement between a deep and a wide model minus between two seeds of one architecture, with a
    /// percentile bootstrap over test examples (fixed seed; the same numbers for any thread count).
    /// </summary>
    public static Interval ErrorsInterval(IReadOnlyList<long[]> a, IReadOnlyList<long[]> b)
    {
        if (a.Count < 2 || b.Count < 2) { throw new RepscopeException("errors: each group needs at least 2 runs"); }
        return Intervals.Bootstrap(a[0].Length, idx => { var (between, within) = Disagreements(a, b, idx); return between - within; },
                                   Intervals.DefaultReplicates, Intervals.DefaultSeed, Level);
    }

    internal static string F(double x) => double.IsNaN(x) ? "n/a" : x.ToString("0.000", CultureInfo.InvariantCulture);

    private static double[,] ToArray(double[][] m)
    {
        int n = m.Length;
        var a = new double[n, n];
        for (int i = 0; i < n; i++) { for (int j = 0; j < n; j++) { a[i, j] = m[i][j]; } }
        return a;
    }

    private static int IndexOf(IReadOnlyList<string> xs, string x)
    {
        for (int i = 0; i < xs.Count; i++) { if (xs[i] == x) { return i; } }
        return -1;
    }

    private static double Mean(List<double> xs) => xs.Count == 0 ? double.NaN : xs.Average();
}
