using Repscope.Analysis;
using Repscope.Reporting;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Tests.Reporting;

public class MeasureRobustnessSectionTests
{
    [Fact]
    public void SectionShowsEveryMeasureWithItsNumbersAndRendersInTheReport()
    {
        var g = new Generator(21);
        var shared = torch.randn(80, 5, dtype: ScalarType.Float64, generator: g);
        var layers = Enumerable.Range(0, 6).Select(i => i is >= 1 and <= 4
            ? shared + 0.1 * torch.randn(80, 5, dtype: ScalarType.Float64, generator: g)
            : torch.randn(80, 5, dtype: ScalarType.Float64, generator: g)).ToList();
        var names = Enumerable.Range(1, 6).Select(i => $"stage1.block{i}").ToList();
        var result = MeasureRobustness.WithinModel(names, layers);
        var section = MeasureRobustnessSection.Build(result, new FigureSource("ResNet-8", "synthetic", "21"));

        Assert.Equal(result.Sentence, section.Measured);
        Assert.Equal(4, section.Figures.Count);
        foreach (var f in section.Figures) { Assert.True(ReportPng.Validate(f.Png, f.Id).Width > 100); }
        var rows = Assert.Single(section.Tables).Rows;
        Assert.Equal(["linear CKA", "RBF CKA", "SVCCA", "Procrustes"], rows.Select(r => r[0]));
        Assert.All(rows, r => Assert.Equal("stage1.block2..stage1.block5 (4)", r[1]));
        Assert.Equal($"{result.Maps[3].Score.Strength:F3}", rows[3][2]);

        var report = new Repscope.Reporting.Report("t", "s", [], [section], []);
        ReportWriter.Validate(report);
        string html = ReportWriter.Render(report);
        Assert.Contains("found under 4 of 4 measures", html);
        Assert.Contains("measures-svcca", html);
    }
}
