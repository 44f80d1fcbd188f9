using Repscope.Reproduce;
using Repscope.Reporting;

namespace Repscope.Tests.Reproduce;

public sealed class ExperimentPlanTests
{
    [Theory]
    [InlineData(GridScale.Quick)]
    [InlineData(GridScale.Full)]
    public void Built_in_grids_are_consistent(GridScale scale)
    {
        var plan = ExperimentPlan.For(scale);
        plan.Validate();
        Assert.Equal(plan.Runs.Count, plan.Runs.Select(r => r.Name).Distinct().Count());
        Assert.True(plan.ErrorsDeep.Count >= 4 && plan.ErrorsDeep.Count == plan.ErrorsWide.Count);
        Assert.True(plan.DepthRow.Zip(plan.DepthRow.Skip(1)).All(p => p.First.Depth < p.Second.Depth));
        Assert.True(plan.WidthRow.Zip(plan.WidthRow.Skip(1)).All(p => p.First.Width < p.Second.Width));
        Assert.All(plan.LessDataRow, r => Assert.True(r.TrainExamples > 0 && (plan.WidthRow[0].TrainExamples == 0 || r.TrainExamples < plan.WidthRow[0].TrainExamples)));
        Assert.False(plan.NoResidual.Without.Residual);
        Assert.Equal(plan.NoResidual.With with { Residual = false }, plan.NoResidual.Without);
        Assert.Equal(plan.Runs.OrderBy(r => r.Cost).Select(r => r.Cost), plan.Runs.Select(r => r.Cost)); // cheapest first
    }

    [Fact]
    public void Quick_grid_stays_within_its_training_budget()
    {
        // Budget (docs/reproduce.md, bench/reproduce_grid_timing.txt): training with evaluation
        // after every epoch at most ~10 minutes on two cores, leaving the rest of 15 for the analyses.
        var plan = ExperimentPlan.Quick();
        double minutes = plan.Runs.Sum(plan.EstimatedSeconds) / 60;
        Assert.InRange(minutes, 5, 10.5);
        // The estimate is within 40% of the measured epoch times: ResNet-56 (7.39 s), ResNet-14 width 2 (5.42 s; wide
        // convolutions run more efficiently, so the estimate errs on the slow side).
        Assert.InRange(plan.EstimatedSeconds(new RunSpec(56, 1, true, 1000, 1, 1)), 7.39 * 0.6, 7.39 * 1.4);
        Assert.InRange(plan.EstimatedSeconds(new RunSpec(14, 2, true, 1000, 1, 1)), 5.42 * 0.6, 5.42 * 1.4);
    }

    [Fact]
    public void Names_say_the_whole_spec()
    {
        Assert.Equal("r56w1-n1000-e15-s2", new RunSpec(56, 1, true, 1000, 15, 2).Name);
        Assert.Equal("r20w1.5-plain-nall-e30-s1", new RunSpec(20, 1.5, false, 0, 30, 1).Name);
        Assert.Equal("ResNet-56 (width 1)", new RunSpec(56, 1, true, 1000, 15, 2).Architecture);
        // Cost grows linearly with depth and with the square of width.
        var a = new RunSpec(14, 1, true, 1000, 15, 1);
        Assert.Equal(4 * a.Cost, (a with { Width = 2 }).Cost);
        Assert.Equal(4 * a.Cost, (a with { Depth = 56 }).Cost);
    }

    [Fact]
    public void Bad_plans_are_refused()
    {
        var plan = ReproducerTests.TinyPlan();
        Assert.StartsWith("reproduce plan: the errors experiment needs at least 4 seeds of the deep model",
            Assert.Throws<RepscopeException>(() => (plan with { ErrorsWide = [plan.ErrorsWide[0]] }).Validate()).Message);
        Assert.Throws<RepscopeException>(() => (plan with { ErrorsDeep = plan.ErrorsDeep.Take(3).ToList() }).Validate());
        Assert.Contains("seed pair", Assert.Throws<RepscopeException>(() => (plan with { SeedPair = (plan.SeedPair.A, plan.SeedPair.A) }).Validate()).Message);
        var bad = plan.DepthRow[0] with { Depth = 10 };
        Assert.Equal($"reproduce plan: {bad.Name}: depth must be 6n+2 with n >= 1",
            Assert.Throws<RepscopeException>(() => (plan with { DepthRow = [bad] }).Validate()).Message);
    }

    [Fact]
    public void Inside_outside_measures_agree_with_hand_computed_values()
    {
        var layers = new[] { "stem", "s1", "s2", "s3", "s4" };
        var block = new BlockSpan(2, 3, 0.9, 1);
        var cmp = new CompareResult(layers, layers, [
            [0.9, 0, 0, 0, 0], [0, 0.8, 0, 0, 0], [0, 0, 0.3, 0, 0], [0, 0, 0, 0.5, 0], [0, 0, 0, 0, double.NaN]], []);
        var (inside, outside) = ReproduceFindings.DiagonalInsideOutside(cmp, layers, block);
        Assert.Equal(0.4, inside, 12);
        Assert.Equal(0.85, outside, 12); // the NaN is left out, not averaged in

        var probe = new ProbeCurve(layers, [0.1, 0.3, 0.6, 0.62, 0.7], []);
        (inside, outside) = ReproduceFindings.ProbeSteps(probe, layers, block);
        Assert.Equal(0.02, inside, 12);                   // s2 -> s3
        Assert.Equal((0.2 + 0.3 + 0.08) / 3, outside, 12); // stem -> s1, s1 -> s2, s3 -> s4

        // Deleting from the end of each stage: stage 1 deletes s2, then s1 as well; stage 2 deletes s4, then s3.
        var prune = new PruneCurve(0.9, [
            new PruneStep(1, 1, "s2", 0.88), new PruneStep(1, 2, "s1", 0.5),
            new PruneStep(2, 1, "s4", 0.6), new PruneStep(2, 2, "s3", 0.58)], []);
        (inside, outside) = ReproduceFindings.PruneDrops(prune, layers, block);
        Assert.Equal((0.02 + 0.02) / 2, inside, 12);   // s2: 0.90 -> 0.88; s3: 0.60 -> 0.58
        Assert.Equal((0.38 + 0.30) / 2, outside, 12);  // s1: 0.88 -> 0.50; s4: 0.90 -> 0.60
    }
}
