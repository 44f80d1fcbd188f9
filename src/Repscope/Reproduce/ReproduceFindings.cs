using System.Globalization;
using Repscope.Reporting;

namespace Repscope.Reproduce;

/// <summary>
/// The findings table: each of the paper's claims, what this run measured, and whether it held.
/// Pure functions of the analysis results; the thresholds are named constants, documented in
/// docs/reproduce.md.
/// </summary>
public static class ReproduceFindings
{
    /// <summary>Seeds: corresponding layers inside the block must be at least this much less similar than outside.</summary>
    public const double SeedGapMargin = 0.05;

    /// <summary>First component: its variance fraction inside blocks must exceed that outside by at least this much.</summary>
    public const double Pc1Margin = 0.10;

    /// <summary>Probes: mean per-layer accuracy change inside the block at most this fraction of the change outside.</summary>
    public const double ProbeFlatRatio = 0.5;

    /// <summary>A model whose test accuracy is below this fraction of the best analysed model's did not train; it is left out of the findings.</summary>
    public const double TrainedFraction = 0.5;

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
        return Claims(r);
    }

    private static IReadOnlyList<Finding> Claims(ReproduceResults r) =>
    [
        Growth(r, "Block structure appears as networks get deeper.", r.Plan.DepthRow, "depth-width"),
        Growth(r, "Block structure appears as networks get wider.", r.Plan.WidthRow, "depth-width"),
        LessData(r),
        NoResidual(r),
        Seeds(r),
        FirstComponent(r),
        Probes(r),
        Pruning(r),
        Errors(r),
    ];

    internal static string F(double x) => double.IsNaN(x) ? "n/a" : x.ToString("0.00", CultureInfo.InvariantCulture);

    internal static string Describe(BlockSpan? b, IReadOnlyList<string> layers) => b is null
        ? "no block"
        : $"block {layers[b.First]}..{layers[b.Last]} ({b.Length} layers, mean CKA {F(b.MeanCka)})";

    private static double Strength(LayersResult l) => l.Block?.Strength ?? 0;

    private static Finding Growth(ReproduceResults r, string claim, IReadOnlyList<RunSpec> row, string section)
    {
        var have = row.Where(r.Layers.ContainsKey).ToList();
        if (have.Count < 2) { return new Finding(claim, "fewer than two models of the row were analysed", Verdict.NotRun, section); }
        string measured = string.Join("; ", have.Select(s => $"{s.Architecture}: {Describe(r.Layers[s].Block, r.Layers[s].Layers)}"));
        var small = r.Layers[have[0]];
        var large = r.Layers[have[^1]];
        bool held = large.Block is not null && Strength(large) > Strength(small);
        return new Finding(claim, measured, held ? Verdict.Held : Verdict.NotHeldAtThisScale, section);
    }

    private static Finding LessData(ReproduceResults r)
    {
        const string claim = "With less training data, block structure appears at smaller capacity.";
        var less = r.Plan.LessDataRow.Where(r.Layers.ContainsKey).ToList();
        // The full-data counterpart of each less-data run: same architecture and seed, the full row's example count.
        var pairs = less.Select(s => (Less: s, Full: r.Plan.WidthRow.Concat(r.Plan.DepthRow)
                .FirstOrDefault(f => f.Depth == s.Depth && f.Width == s.Width && f.Residual == s.Residual && f.Seed == s.Seed && f != s)))
            .Where(p => p.Full is not null && r.Layers.ContainsKey(p.Full)).ToList();
        if (pairs.Count == 0) { return new Finding(claim, "no pair of full-data and less-data models was analysed", Verdict.NotRun, "less-data"); }
        string measured = string.Join("; ", pairs.Select(p =>
            $"{p.Less.Architecture}: strength {F(Strength(r.Layers[p.Full!]))} with {p.Full!.DataLabel}, {F(Strength(r.Layers[p.Less]))} with {p.Less.DataLabel}"));
        static double Smallest(IEnumerable<(RunSpec Spec, LayersResult L)> xs) =>
            xs.Where(x => x.L.Block is not null).Select(x => x.Spec.Depth * x.Spec.Width * x.Spec.Width).DefaultIfEmpty(double.PositiveInfinity).Min();
        double lessFirst = Smallest(pairs.Select(p => (p.Less, r.Layers[p.Less])));
        double fullFirst = Smallest(pairs.Select(p => (p.Full!, r.Layers[p.Full!])));
        bool held = lessFirst < fullFirst ||
                    (!double.IsInfinity(lessFirst) && lessFirst == fullFirst &&
                     pairs.Sum(p => Strength(r.Layers[p.Less])) > pairs.Sum(p => Strength(r.Layers[p.Full!])));
        return new Finding(claim, measured, held ? Verdict.Held : Verdict.NotHeldAtThisScale, "less-data");
    }

    private static Finding NoResidual(ReproduceResults r)
    {
        const string claim = "Block structure also forms in networks without residual connections.";
        var (with, without) = r.Plan.NoResidual;
        if (!r.Layers.TryGetValue(without, out var plain)) { return new Finding(claim, "the model without residual connections was not analysed", Verdict.NotRun, "no-residual"); }
        string measured = $"{without.Architecture}: {Describe(plain.Block, plain.Layers)}";
        if (r.Layers.TryGetValue(with, out var res)) { measured += $"; with residual connections: {Describe(res.Block, res.Layers)}"; }
        return new Finding(claim, measured, plain.Block is not null ? Verdict.Held : Verdict.NotHeldAtThisScale, "no-residual");
    }

    /// <summary>Mean cross-model CKA of corresponding layers (same name), inside and outside <paramref name="block"/>.</summary>
    public static (double Inside, double Outside) DiagonalInsideOutside(CompareResult c, IReadOnlyList<string> layers, BlockSpan block)
    {
        var inside = new List<double>();
        var outside = new List<double>();
        for (int i = 0; i < layers.Count; i++)
        {
            int row = IndexOf(c.Rows, layers[i]), col = IndexOf(c.Columns, layers[i]);
            if (row < 0 || col < 0 || double.IsNaN(c.Cka[row][col])) { continue; }
            (block.Contains(i) ? inside : outside).Add(c.Cka[row][col]);
        }
        return (Mean(inside), Mean(outside));
    }

    private static Finding Seeds(ReproduceResults r)
    {
        const string claim = "Inside the block structure, two seeds of one architecture learn different representations; outside, similar ones.";
        var (a, _) = r.Plan.SeedPair;
        if (r.Seeds is null || !r.Layers.TryGetValue(a, out var la)) { return new Finding(claim, "the seed comparison was not run", Verdict.NotRun, "seeds"); }
        if (la.Block is null) { return new Finding(claim, $"{a.Architecture} (seed {a.Seed}) has no block structure at this scale", Verdict.NotHeldAtThisScale, "seeds"); }
        var (inside, outside) = DiagonalInsideOutside(r.Seeds, la.Layers, la.Block);
        string measured = $"CKA between the same layer of seeds {a.Seed} and {r.Plan.SeedPair.B.Seed}: {F(inside)} inside the block, {F(outside)} outside";
        bool held = !double.IsNaN(inside) && !double.IsNaN(outside) && inside < outside - SeedGapMargin;
        return new Finding(claim, measured, held ? Verdict.Held : Verdict.NotHeldAtThisScale, "seeds");
    }

    private static Finding FirstComponent(ReproduceResults r)
    {
        const string claim = "Layers in the block structure share a dominant first principal component.";
        var withBlock = r.Layers.Values.Where(l => l.Block is not null).ToList();
        if (r.Layers.Count == 0) { return new Finding(claim, "no model was analysed", Verdict.NotRun, "first-component"); }
        if (withBlock.Count == 0) { return new Finding(claim, "no analysed model has a block structure at this scale", Verdict.NotHeldAtThisScale, "first-component"); }
        var inside = withBlock.SelectMany(l => Enumerable.Range(l.Block!.First, l.Block.Length).Select(i => l.Pc1Fraction[i])).ToList();
        var outside = withBlock.SelectMany(l => Enumerable.Range(0, l.Layers.Count).Where(i => !l.Block!.Contains(i)).Select(i => l.Pc1Fraction[i])).ToList();
        double mi = Mean(inside), mo = Mean(outside);
        string measured = $"variance explained by the first component: {F(mi)} inside blocks, {F(mo)} outside ({withBlock.Count} models with a block)";
        bool held = !double.IsNaN(mi) && (double.IsNaN(mo) || mi > mo + Pc1Margin);
        return new Finding(claim, measured, held ? Verdict.Held : Verdict.NotHeldAtThisScale, "first-component");
    }

    private static Finding Probes(ReproduceResults r) => InsideOutside(r, r.Probes,
        "Linear probe accuracy barely changes across the block structure.", "probes", "no probes were run", "probed",
        (p, l) => ProbeSteps(p, l.Layers, l.Block!),
        (inside, outside) => $"mean accuracy change per layer {F(inside)} inside the block, {F(outside)} outside",
        (inside, outside) => inside <= ProbeFlatRatio * outside);

    private static Finding Pruning(ReproduceResults r) => InsideOutside(r, r.Prunes,
        "Deleting blocks inside the block structure costs less accuracy than deleting blocks outside it.", "pruning", "no blocks were deleted", "pruned",
        (p, l) => PruneDrops(p, l.Layers, l.Block!),
        (inside, outside) => $"mean accuracy drop {F(inside)} per block deleted inside the block structure, {F(outside)} outside",
        (inside, outside) => inside < outside);

    /// <summary>A claim measured per model as (inside the block, outside), holding when it holds for every model with a block.</summary>
    private static Finding InsideOutside<T>(ReproduceResults r, Dictionary<RunSpec, T> results, string claim, string section, string none, string verb,
        Func<T, LayersResult, (double Inside, double Outside)> measure, Func<double, double, string> describe, Func<double, double, bool> holds)
    {
        if (results.Count == 0) { return new Finding(claim, none, Verdict.NotRun, section); }
        var cases = r.Plan.ProbeAndPrune.Where(s => results.ContainsKey(s) && r.Layers.TryGetValue(s, out var l) && l.Block is not null).ToList();
        if (cases.Count == 0) { return new Finding(claim, $"no {verb} model has a block structure at this scale", Verdict.NotHeldAtThisScale, section); }
        var parts = new List<string>();
        bool held = true;
        foreach (var s in cases)
        {
            var (inside, outside) = measure(results[s], r.Layers[s]);
            parts.Add($"{s.Architecture}: {describe(inside, outside)}");
            held &= !double.IsNaN(inside) && !double.IsNaN(outside) && holds(inside, outside);
        }
        return new Finding(claim, string.Join("; ", parts), held ? Verdict.Held : Verdict.NotHeldAtThisScale, section);
    }

    /// <summary>Mean absolute change of probe accuracy from one layer to the next, for steps ending inside and outside the block.</summary>
    public static (double Inside, double Outside) ProbeSteps(ProbeCurve p, IReadOnlyList<string> layers, BlockSpan block)
    {
        var inside = new List<double>();
        var outside = new List<double>();
        for (int k = 1; k < p.Layers.Count; k++)
        {
            int i = IndexOf(layers, p.Layers[k]), prev = IndexOf(layers, p.Layers[k - 1]);
            if (i < 0 || prev < 0) { continue; }
            double step = Math.Abs(p.Accuracy[k] - p.Accuracy[k - 1]);
            (block.Contains(i) && block.Contains(prev) ? inside : outside).Add(step);
        }
        return (Mean(inside), Mean(outside));
    }

    /// <summary>
    /// Mean marginal accuracy drop of deleting one more block from the end of a stage (accuracy before
    /// this step - after it; the first step of a stage starts from the baseline), for newly deleted
    /// blocks inside and outside <paramref name="block"/>.
    /// </summary>
    public static (double Inside, double Outside) PruneDrops(PruneCurve p, IReadOnlyList<string> layers, BlockSpan block)
    {
        var inside = new List<double>();
        var outside = new List<double>();
        var previous = new Dictionary<(int Stage, int Deleted), double>();
        foreach (var s in p.Steps) { previous[(s.Stage, s.Deleted)] = s.Accuracy; }
        foreach (var s in p.Steps)
        {
            int i = IndexOf(layers, s.NewlyDeleted);
            if (i < 0) { continue; }
            double before = s.Deleted <= 1 ? p.BaselineAccuracy : previous.GetValueOrDefault((s.Stage, s.Deleted - 1), double.NaN);
            if (double.IsNaN(before)) { continue; }
            (block.Contains(i) ? inside : outside).Add(before - s.Accuracy);
        }
        return (Mean(inside), Mean(outside));
    }

    private static Finding Errors(ReproduceResults r)
    {
        const string claim = "Wide and deep models of similar accuracy make systematically different errors (more classes differ than between seeds).";
        if (r.Errors is not { } e) { return new Finding(claim, "the errors comparison was not run", Verdict.NotRun, "errors"); }
        string control = e.SignificantClassesControl is { } c ? $"{c} in the seed control" : "no control (a control half has fewer than 2 runs)";
        string measured = $"accuracy {F(e.AccuracyA)} (deep) vs {F(e.AccuracyB)} (wide); {e.SignificantClasses} of {e.Classes.Count} classes differ significantly (corrected), {control}";
        if (e.SignificantClassesControl is null) { return new Finding(claim, measured, Verdict.NotRun, "errors"); }
        return new Finding(claim, measured, e.SignificantClasses > e.SignificantClassesControl ? Verdict.Held : Verdict.NotHeldAtThisScale, "errors");
    }

    private static int IndexOf(IReadOnlyList<string> xs, string x)
    {
        for (int i = 0; i < xs.Count; i++) { if (xs[i] == x) { return i; } }
        return -1;
    }

    private static double Mean(List<double> xs) => xs.Count == 0 ? double.NaN : xs.Average();
}
