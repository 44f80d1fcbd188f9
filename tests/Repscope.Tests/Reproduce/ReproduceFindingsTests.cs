using Repscope.Analysis;
using Repscope.Reporting;
using Repscope.Reproduce;

namespace Repscope.Tests.Reproduce;

/// <summary>The findings logic on synthetic results: each verdict is reachable, a missing precondition is inconclusive, the effects are the hand-computed ones.</summary>
public sealed class ReproduceFindingsTests
{
    [Theory]
    [InlineData(0.01, 0.09, 0.05, Verdict.Held)]          // above 0
    [InlineData(0.01, 0.02, 0.05, Verdict.Held)]          // above 0 though below the paper's size: an effect, smaller
    [InlineData(-0.03, 0.04, 0.05, Verdict.NotHeld)]      // excludes the paper's effect
    [InlineData(-0.09, -0.01, 0.05, Verdict.NotHeld)]     // the opposite sign
    [InlineData(-0.03, 0.06, 0.05, Verdict.Inconclusive)] // holds both 0 and the paper's effect
    [InlineData(0.0, 0.06, 0.05, Verdict.Inconclusive)]   // touching 0 does not exclude it
    public void Each_verdict_follows_from_the_interval(double low, double high, double paper, Verdict expected)
    {
        Assert.Equal(expected, ReproduceFindings.Decide(low, high, paper).Verdict);
    }

    [Fact]
    public void No_interval_is_inconclusive_with_the_reason()
    {
        var (v, reason) = ReproduceFindings.Decide(double.NaN, double.NaN, 0.05, "zero variance in both groups");
        Assert.Equal(Verdict.Inconclusive, v);
        Assert.Equal("no interval: zero variance in both groups", reason);
        Assert.Equal(Verdict.Inconclusive, ReproduceFindings.Decide(0.1, 0.2, 0.05, "undefined").Verdict);
    }

    private static readonly string[] Taps = ["stem", "stage1.block0.branch", "stage1.block0", "stage2.block0.branch", "stage2.block0",
                                             "stage3.block0.branch", "stage3.block0", "stage3.block1.branch", "stage3.block1"];

    /// <summary>A map with CKA exp(-d / scale) by layer distance d, and a bright square of <paramref name="bright"/> over taps 4..8 when given.</summary>
    private static double[][] Map(double scale, double? bright)
    {
        int n = Taps.Length;
        return [.. Enumerable.Range(0, n).Select(i => Enumerable.Range(0, n).Select(j =>
            i == j ? 1 : bright is { } b && i >= 4 && j >= 4 ? b : Math.Exp(-Math.Abs(i - j) / scale)).ToArray())];
    }

    private static ReproduceResults Results(Func<RunSpec, double?> bright, Func<RunSpec, double?>? brightWithoutPc1 = null)
    {
        var plan = ReproducerTests.TinyPlan();
        var r = new ReproduceResults(plan, new TrainingSettings("fashion-mnist", null));
        foreach (var s in plan.LayerRuns)
        {
            double scale = 1.5 + 0.05 * s.Seed; // seeds differ a little
            r.Layers[s] = ReproduceSamples.Layers(Taps, Map(scale, bright(s)), Map(scale, (brightWithoutPc1 ?? (_ => null))(s)), new double[Taps.Length], 0.8);
        }
        return r;
    }

    private static Finding Find(ReproduceResults r, string section) => ReproduceFindings.Compute(r).Single(f => f.SectionId == section);

    [Fact]
    public void Growth_holds_when_the_large_model_is_blocky_and_does_not_when_neither_is()
    {
        var plan = ReproducerTests.TinyPlan();
        var widest = plan.WidthRow[^1];
        var held = Find(Results(s => s with { Seed = 1 } == widest ? 0.9 + 0.01 * s.Seed : null), "width");
        Assert.Equal(Verdict.Held, held.Verdict);
        Assert.Equal(2, held.Seeds);
        Assert.True(held.CiLow > 0 && held.Effect > ReproduceFindings.BlockStrengthEffect, held.Reason);
        Assert.Equal("Welch t over seeds", held.Method);
        // The effect is the difference of the mean strengths, as the score computes them.
        double Strength(RunSpec s, double? b) => BlockStructureScore.Score(To2D(Map(1.5 + 0.05 * s.Seed, b)), Taps, BlockStructureScore.ResidualBlockUnits(Taps)).Strength;
        double expected = (Strength(widest, 0.91) + Strength(widest.WithSeed(2), 0.92)) / 2
                          - (Strength(plan.WidthRow[0], null) + Strength(plan.WidthRow[0].WithSeed(2), null)) / 2;
        Assert.Equal(expected, held.Effect, 12);

        // The narrow model is the blocky one: the interval lies below the paper's effect: not held.
        var reversed = Find(Results(s => s with { Seed = 1 } == plan.WidthRow[0] ? 0.9 + 0.01 * s.Seed : null), "width");
        Assert.Equal(Verdict.NotHeld, reversed.Verdict);
        Assert.True(reversed.CiHigh < ReproduceFindings.BlockStrengthEffect, reversed.Reason);
    }

    [Fact]
    public void Identical_seeds_give_no_interval_and_an_inconclusive_verdict()
    {
        var plan = ReproducerTests.TinyPlan();
        var r = new ReproduceResults(plan, new TrainingSettings("fashion-mnist", null));
        foreach (var s in plan.LayerRuns) { r.Layers[s] = ReproduceSamples.Layers(Taps, Map(1.5, null), Map(1.5, null), new double[Taps.Length], 0.8); }
        var f = Find(r, "depth");
        Assert.Equal(Verdict.Inconclusive, f.Verdict);
        Assert.StartsWith("no interval: zero variance in both groups", f.Reason);
        Assert.True(double.IsNaN(f.CiLow) && double.IsNaN(f.CiHigh));
    }

    [Fact]
    public void Missing_precondition_is_inconclusive_not_a_failure()
    {
        // No block in the probed model: the probe, deletion and seed claims cannot be tested.
        var r = Results(_ => null);
        var names = Taps.Where(t => !t.EndsWith(".branch", StringComparison.Ordinal)).ToList();
        foreach (var s in r.Plan.ProbeAndPrune)
        {
            r.Probes[s] = ReproduceSamples.Probe(names, [.. names.Select((_, i) => 0.5 + 0.1 * i)], 400, []);
            r.Prunes[s] = ReproduceSamples.Prune(0.8, [ReproduceSamples.Step(3, 1, "stage3.block1", 0.7)], []);
        }
        r.Seeds = ReproduceSamples.Compare(Taps, Taps, Map(1.5, null), []);
        foreach (string section in new[] { "probes", "pruning", "seeds" })
        {
            var f = Find(r, section);
            Assert.Equal(Verdict.Inconclusive, f.Verdict);
            Assert.StartsWith("precondition absent: ", f.Reason);
            Assert.True(double.IsNaN(f.Effect));
        }
        // Missing inputs altogether: inconclusive, saying what is missing.
        var empty = new ReproduceResults(ReproducerTests.TinyPlan(), new TrainingSettings("fashion-mnist", null));
        Assert.All(ReproduceFindings.Compute(empty), f => Assert.Equal(Verdict.Inconclusive, f.Verdict));
        Assert.Equal("the errors comparison was not run", Find(empty, "errors").Reason);
    }

    [Fact]
    public void The_first_component_finding_compares_with_the_block_free_model()
    {
        var plan = ReproducerTests.TinyPlan();
        var widest = plan.WidthRow[^1];
        bool Blocky(RunSpec s) => s with { Seed = 1 } == widest;
        // The block is gone without PC1: held. It stays without PC1 (and the reference loses a block of its own): not held.
        Assert.Equal(Verdict.Held, Find(Results(s => Blocky(s) ? 0.9 + 0.01 * s.Seed : null), "first-component").Verdict);
        bool Reference(RunSpec s) => s with { Seed = 1 } == plan.WidthRow[0];
        var kept = Find(Results(s => Blocky(s) || Reference(s) ? 0.9 + 0.01 * s.Seed : null, s => Blocky(s) ? 0.9 + 0.01 * s.Seed : null), "first-component");
        Assert.Equal(Verdict.NotHeld, kept.Verdict);
    }

    [Fact]
    public void Probe_and_deletion_effects_are_the_hand_computed_ones_with_a_bootstrap_interval()
    {
        var score = BlockStructureScore.Score(To2D(Map(1.5, 0.95)), Taps, BlockStructureScore.ResidualBlockUnits(Taps));
        Assert.Equal((4, 8), (score.First, score.Last)); // stage2.block0 .. stage3.block1: residual blocks 1..3

        // Probes on the stem and block outputs; the block starts at stage2.block0 (residual block 1) and ends at stage3.block1 (3).
        string[] outputs = ["stem", "stage1.block0", "stage2.block0", "stage3.block0", "stage3.block1"];
        double[] acc = [0.30, 0.55, 0.70, 0.71, 0.72];
        var probe = ReproduceSamples.Probe(outputs, acc, 400, [], [.. acc.Select(a => FakeBackend.Correct(a))]).Result;
        var ci = ReproduceFindings.ProbeGainInterval(probe, Taps, score)!;
        // before: (0.70 - 0.30) / 2 residual blocks (0 and 1, up to the block's first); across: (0.72 - 0.70) / 2.
        Assert.Equal((0.70 - 0.30) / 2 - (0.72 - 0.70) / 2, ci.Estimate, 12);
        Assert.True(ci.Low > 0 && ci.Low < ci.Estimate && ci.High > ci.Estimate);
        Assert.Equal(ci, ReproduceFindings.ProbeGainInterval(probe, Taps, score)); // a fixed bootstrap seed: the same interval again

        // Deletion: stage 3 deletes block1 (inside) then block0 (inside); stage 1 deletes block0 (outside).
        var steps = new[] { (3, 1, "stage3.block1", 0.78), (3, 2, "stage3.block0", 0.75), (1, 1, "stage1.block0", 0.50) }
            .Select(x => ReproduceSamples.Step(x.Item1, x.Item2, x.Item3, x.Item4, FakeBackend.Correct(x.Item4))).ToList();
        var prune = ReproduceSamples.Prune(0.80, steps, [], FakeBackend.Correct(0.80)).Result.Result;
        var drop = ReproduceFindings.PruneDropInterval(prune, Taps, score)!;
        Assert.Equal(0.30 - (0.02 + 0.03) / 2, drop.Estimate, 12);
        Assert.True(drop.Low > 0);
    }

    [Fact]
    public void Errors_effect_is_between_group_minus_within_group_disagreement()
    {
        long[] P(params long[] x) => x;
        // Group A agrees with itself everywhere; B differs from A on examples 0 and 1, and its seeds differ from each other on example 2.
        var a = new[] { P(0, 1, 2, 3), P(0, 1, 2, 3) };
        var b = new[] { P(9, 9, 2, 3), P(9, 9, 5, 3) };
        var (between, within) = ReproduceFindings.Disagreements(a, b, null);
        Assert.Equal((2 + 2 + 3 + 3) / 4.0 / 4, between, 12);
        Assert.Equal((0 + 1) / 2.0 / 4, within, 12);
        var ci = ReproduceFindings.ErrorsInterval(a, b);
        Assert.Equal(between - within, ci.Estimate, 12);
        Assert.Equal(4, ci.N);
    }

    private static double[,] To2D(double[][] m)
    {
        var a = new double[m.Length, m.Length];
        for (int i = 0; i < m.Length; i++) { for (int j = 0; j < m.Length; j++) { a[i, j] = m[i][j]; } }
        return a;
    }
}
