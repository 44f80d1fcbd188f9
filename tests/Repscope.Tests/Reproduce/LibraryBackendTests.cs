using Repscope.Reporting;
using Repscope.Reproduce;

namespace Repscope.Tests.Reproduce;

/// <summary>
/// The real trainer and analyses behind <see cref="Reproducer"/>, on a grid of nine ResNet-8/14 models
/// trained for one epoch on 64 images of the shipped Fashion-MNIST data (seconds on an idle machine).
/// </summary>
public sealed class LibraryBackendTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("repscope-library-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static ExperimentPlan Tiny()
    {
        RunSpec R(int depth, double width, int n = 64, bool residual = true, int seed = 1) => new(depth, width, residual, n, 1, seed);
        return new ExperimentPlan(GridScale.Quick,
            DepthRow: [R(8, 1), R(14, 1)],
            WidthRow: [R(8, 1), R(8, 2)],
            LessDataRow: [R(8, 1, 32)],
            NoResidual: (R(8, 1), R(8, 1, residual: false)),
            SeedPair: (R(8, 2), R(8, 2, seed: 2)),
            ProbeAndPrune: [R(8, 2)],
            ErrorsDeep: [.. Enumerable.Range(1, 4).Select(s => R(8, 1, seed: s))],
            ErrorsWide: [.. Enumerable.Range(1, 4).Select(s => R(8, 2, seed: s))]) { TestExamples = 64, BatchSize = 32, Augment = false };
    }

    [Fact]
    public void Tiny_grid_end_to_end_then_nothing_to_train()
    {
        var options = new ReproduceOptions(GridScale.Quick, _dir, TrainingSettings.For(Tiny(), "fashion-mnist-small", null), Tiny());
        var first = new Reproducer(LibraryBackend.For(GridScale.Quick)).Run(options);
        Assert.Empty(first.Failures);
        Assert.Equal(Tiny().Runs.Count, first.Trained);
        Assert.Equal(9, first.Findings.Count);
        // One epoch on 64 images: verdicts depend on how far each tiny model got; every analysis ran, and every finding
        // carries an effect with its interval or says why it has none.
        Assert.All(first.Findings, f => Assert.True(f.Reason.Length > 0 && (f.Verdict == Verdict.Inconclusive || !double.IsNaN(f.CiLow)), f.Claim));
        using (var run = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "runs", Tiny().DepthRow[1].Name, "run.json"))))
        {
            Assert.False(run.RootElement.GetProperty("config").GetProperty("evaluateEveryEpoch").GetBoolean());
        }
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp", SearchOption.AllDirectories));
        string html = File.ReadAllText(first.ReportPath);
        // Every run was trained here: findings.json and the report name this processor once.
        string cpu = CpuKernels.Describe(CpuKernels.Cpu, CpuKernels.Settings);
        using (var findings = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "findings.json"))))
        {
            Assert.Equal([cpu], findings.RootElement.GetProperty("trainedOn").EnumerateArray().Select(e => e.GetString()));
        }
        Assert.Contains(System.Net.WebUtility.HtmlEncode(cpu), html);
        Assert.Contains("<section class=\"experiment\" id=\"errors\">", html);
        Assert.True(File.Exists(Path.Combine(_dir, "runs", Tiny().ProbeAndPrune[0].Name, "analysis", "prune.json")));

        string analysis = Path.Combine(_dir, "runs", Tiny().ProbeAndPrune[0].Name, "analysis");
        var written = new[] { "pc.json", "probe.json", "prune.json" }.Select(f => File.GetLastWriteTimeUtc(Path.Combine(analysis, f))).ToList();

        var second = new Reproducer(LibraryBackend.For(GridScale.Quick)).Run(options);
        Assert.Equal((0, 0, Tiny().Runs.Count), (second.Trained, second.Resumed, second.Reused));
        Assert.Empty(second.Failures);
        // The analyses were read back, not recomputed, and give the same findings, number for number.
        Assert.Equal(written, new[] { "pc.json", "probe.json", "prune.json" }.Select(f => File.GetLastWriteTimeUtc(Path.Combine(analysis, f))));
        Assert.Equal(first.Findings, second.Findings);
    }

    /// <summary>
    /// Several runs trained and analysed at once (one thread each) give the same weights, predictions and findings,
    /// bit for bit, as one run at a time: what makes the verdicts the same on machines with any number of cores.
    /// </summary>
    [Fact]
    public void Runs_at_once_give_the_same_numbers_as_one_at_a_time()
    {
        var plan = Tiny();
        var settings = TrainingSettings.For(plan, "fashion-mnist-small", null);
        string together = Path.Combine(_dir, "together"), alone = Path.Combine(_dir, "alone");
        var a = new Reproducer(LibraryBackend.For(GridScale.Quick)).Run(new ReproduceOptions(GridScale.Quick, together, settings, plan, Workers: 3));
        var b = new Reproducer(LibraryBackend.For(GridScale.Quick)).Run(new ReproduceOptions(GridScale.Quick, alone, settings, plan, Workers: 1));
        Assert.Empty(a.Failures);
        Assert.Empty(b.Failures);
        foreach (var r in plan.Runs)
        {
            foreach (string file in new[] { Repscope.Runs.RunFormat.ModelFile, Repscope.Runs.RunFormat.PredictionsFile, Repscope.Runs.RunFormat.ProbabilitiesFile })
            {
                Assert.True(File.ReadAllBytes(Path.Combine(together, "runs", r.Name, file)).AsSpan()
                                .SequenceEqual(File.ReadAllBytes(Path.Combine(alone, "runs", r.Name, file))), $"{r.Name}/{file} differs");
            }
        }
        Assert.Equal(b.Findings, a.Findings);
    }
}
