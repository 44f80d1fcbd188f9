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
        Assert.True(plan.Seeds >= 2);
        Assert.All(plan.RowModels, m => Assert.All(plan.Replicates(m), r => Assert.Contains(r, plan.Runs)));
        Assert.All(plan.LessDataRow, r => Assert.NotNull(ReproduceFindings.FullDataCounterpart(plan, r)));
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
        // Budget (docs/reproduce.md): the whole reproduce --quick, build included, in 12 minutes on two idle cores;
        // training gets at most ~6 of them, the analyses and the build the rest.
        var plan = ExperimentPlan.Quick();
        double minutes = plan.Runs.Sum(plan.EstimatedSeconds) / 60;
        Assert.InRange(minutes, 3, 6);
        // The cost model reproduces the epoch times it was fitted to (Repscope's trainer, idle machine, 1,000 images):
        // ResNet-14 width 1: 2.15 s, width 2: 4.0 s; evaluation once at the end.
        var once = plan with { TestExamples = 1 };
        Assert.InRange(once.EstimatedSeconds(new RunSpec(14, 1, true, 1000, 1, 1)), 2.15 * 0.95, 2.15 * 1.05);
        Assert.InRange(once.EstimatedSeconds(new RunSpec(14, 2, true, 1000, 1, 1)), 4.0 * 0.95, 4.0 * 1.05);
        // Evaluating after every epoch costs as many evaluations as epochs.
        var spec = new RunSpec(14, 1, true, 256, 24, 1);
        double end = plan.EstimatedSeconds(spec), every = (plan with { EvaluateEveryEpoch = true }).EstimatedSeconds(spec);
        Assert.Equal(23 * 2000 * ExperimentPlan.EvalFraction * ExperimentPlan.EpochSecondsPer1000(spec) / 1000, every - end, 9);
        // The less-data row trains as many SGD steps as the rest: a quarter of the images, four times the epochs.
        Assert.All(plan.LessDataRow, r => Assert.Equal(plan.WidthRow[0].TrainExamples * plan.WidthRow[0].Epochs, r.TrainExamples * r.Epochs));
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
        Assert.StartsWith("reproduce plan: the errors experiment needs at least 2 seeds of each model",
            Assert.Throws<RepscopeException>(() => (plan with { ErrorsWide = [plan.ErrorsWide[0]] }).Validate()).Message);
        Assert.Throws<RepscopeException>(() => (plan with { ErrorsDeep = plan.ErrorsDeep.Take(1).ToList() }).Validate());
        Assert.Throws<RepscopeException>(() => (plan with { Seeds = 1 }).Validate());
        Assert.Contains("seed pair", Assert.Throws<RepscopeException>(() => (plan with { SeedPair = (plan.SeedPair.A, plan.SeedPair.A) }).Validate()).Message);
        var bad = plan.DepthRow[0] with { Depth = 10 };
        Assert.Equal($"reproduce plan: {bad.Name}: depth must be 6n+2 with n >= 1",
            Assert.Throws<RepscopeException>(() => (plan with { DepthRow = [bad] }).Validate()).Message);
    }
}
