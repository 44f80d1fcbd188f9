using System.Text.Json;
using Repscope.Data;
using Repscope.Models;
using Repscope.Similarity;
using Repscope.Tests.Analysis;
using Repscope.Tests.Cli;
using Repscope.Training;
using Repscope.Workflows;

namespace Repscope.Tests.Workflows;

/// <summary>
/// A run narrow enough for R2CCA to be defined on some taps: ResNet-8 at width 0.25 on 1,000 test examples, whose stage-3
/// taps have 16 x 7 x 7 = 784 features (fewer than the examples) while the earlier ones have more (CCA undefined there).
/// </summary>
public sealed class NarrowRunFixture : IDisposable
{
    public string Root { get; } = Path.Combine(Path.GetTempPath(), $"repscope-measures-{Guid.NewGuid():N}");
    public string Run => Path.Combine(Root, "r8");
    public const int Examples = 1000;

    public NarrowRunFixture()
    {
        Directory.CreateDirectory(Root);
        Trainer.Train(new TrainOptions
        {
            Depth = 8, Width = 0.25, Epochs = 1, BatchSize = 64, Seed = 5, Threads = 2, Out = Run,
            Data = new DataSpec { Name = DataName.FashionMnistSmall, TrainExamples = 300, TestExamples = Examples },
        });
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

/// <summary>
/// `layers` and `compare` under the whole-data measures: the map from the model equals the measure computed pair by pair on
/// the activations `export` writes (the `similarity` path, <see cref="Measures.Compute"/>), to 1e-10.
/// </summary>
public class MeasureMapsTests(NarrowRunFixture narrow, TinyRunFixture tiny) : IClassFixture<NarrowRunFixture>, IClassFixture<TinyRunFixture>
{
    /// <summary>Every cell of <paramref name="values"/> against the measure of the exported arrays i and j (NaN where it is undefined).</summary>
    private static int AssertEqualsPairwise(string run, string root, TapSet taps, int examples, SimilarityMeasure measure, double[][] values,
                                            IReadOnlyList<string> layers)
    {
        string npz = Path.Combine(root, $"export-{measure}-{Guid.NewGuid():N}.npz");
        ExportWorkflow.Run(run, npz, Enumerable.Range(0, examples).Select(i => (long)i).ToList(), taps, 100);
        var arrays = CkaFiles.LoadNpz(npz).Where(a => layers.Contains(a.Name)).ToList();
        try
        {
            Assert.Equal(layers, arrays.Select(a => a.Name));
            int defined = 0;
            for (int i = 0; i < layers.Count; i++)
            {
                for (int j = 0; j < layers.Count; j++)
                {
                    var expected = Measures.Compute(measure, arrays[i].Data, arrays[j].Data);
                    if (!expected.Defined)
                    {
                        Assert.True(double.IsNaN(values[i][j]), $"{layers[i]} x {layers[j]}: expected undefined ({expected.Reason}), got {values[i][j]}");
                        continue;
                    }
                    Assert.True(Math.Abs(expected.Value - values[i][j]) <= 1e-10, $"{measure} {layers[i]} x {layers[j]}: map {values[i][j]:R}, pairwise {expected.Value:R}");
                    if (i != j) { defined++; }
                }
            }
            return defined;
        }
        finally
        {
            foreach (var a in arrays) { a.Data.Dispose(); }
            File.Delete(npz);
        }
    }

    [Theory]
    [InlineData(SimilarityMeasure.Cca)]
    [InlineData(SimilarityMeasure.Pwcca)]
    public void CcaMapOfARunEqualsThePairwiseMeasureOnExportedActivations(SimilarityMeasure measure)
    {
        var options = new StreamOptions(Examples: NarrowRunFixture.Examples, BatchSize: 128, Taps: TapSet.Branches);
        var (r, files) = LayersWorkflow.Run(narrow.Run, options, measure);
        Assert.Equal([Path.Combine(narrow.Run, "analysis", $"layers_{measure.ToString().ToLowerInvariant()}.json"),
                      Path.Combine(narrow.Run, "analysis", $"layers_{measure.ToString().ToLowerInvariant()}.png")], files);
        int defined = AssertEqualsPairwise(narrow.Run, narrow.Root, TapSet.Branches, NarrowRunFixture.Examples, measure, r.Values, r.Layers);
        Assert.True(defined >= 2, $"{measure}: only {defined} off-diagonal cells defined; the test needs taps with fewer features than examples");
        // The undefined layers (more features than examples) are named with the reason.
        Assert.Contains(r.Undefined, u => u.Contains("features >=", StringComparison.Ordinal) && u.Contains("svcca", StringComparison.Ordinal));

        int l = r.Layers.Count;
        for (int i = 0; i < l; i++)
        {
            Assert.True(double.IsNaN(r.Values[i][i]) || r.Values[i][i] == 1.0);
            for (int j = 0; j < l; j++)
            {
                if (measure == SimilarityMeasure.Cca) { Assert.Equal(r.Values[i][j], r.Values[j][i]); }
            }
        }
        if (measure == SimilarityMeasure.Pwcca)
        {
            // Rows give the weights: the map is not symmetric, and the JSON says which side is which.
            double asymmetry = Enumerable.Range(0, l).SelectMany(i => Enumerable.Range(0, l).Select(j => (i, j)))
                .Where(p => !double.IsNaN(r.Values[p.i][p.j])).Max(p => Math.Abs(r.Values[p.i][p.j] - r.Values[p.j][p.i]));
            Assert.True(asymmetry > 1e-6, $"PWCCA map symmetric to {asymmetry}");
            Assert.False(r.Measure.Symmetric);
            Assert.Contains("weights come from the row layer", r.Measure.Orientation);
        }
        var json = JsonDocument.Parse(File.ReadAllText(files[0])).RootElement;
        Assert.Equal(measure.ToString().ToLowerInvariant(), json.GetProperty("measure").GetProperty("measure").GetString());
        Assert.Contains("thin SVD", json.GetProperty("measure").GetProperty("computation").GetString());
        Assert.Equal(LayerSubspace.RankTolerance, json.GetProperty("measure").GetProperty("rankTolerance").GetDouble());
    }

    [Theory]
    [InlineData(SimilarityMeasure.Svcca)]
    [InlineData(SimilarityMeasure.Procrustes)]
    [InlineData(SimilarityMeasure.Rsa)]
    public void OtherWholeDataMapsEqualThePairwiseMeasureAndAreSymmetric(SimilarityMeasure measure)
    {
        var (r, _) = LayersWorkflow.Run(tiny.Run, new StreamOptions(Examples: 120, BatchSize: 50), measure);
        int defined = AssertEqualsPairwise(tiny.Run, tiny.Root, TapSet.Blocks, 120, measure, r.Values, r.Layers);
        Assert.Equal(r.Layers.Count * (r.Layers.Count - 1), defined);
        for (int i = 0; i < r.Layers.Count; i++)
        {
            Assert.Equal(1.0, r.Values[i][i]);
            for (int j = 0; j < r.Layers.Count; j++) { Assert.Equal(r.Values[i][j], r.Values[j][i]); }
        }
        Assert.True(r.Measure.Symmetric);
        Assert.NotNull(r.BlockStructureScore);
        if (measure == SimilarityMeasure.Svcca) { Assert.Equal(0.99, r.Measure.SvccaVarianceKept); }
    }

    [Fact]
    public void AModelAgainstItselfGivesOneOnTheDiagonalComputedNotAssumed()
    {
        // Cross-model maps compute every cell, the diagonal included: identical layers give 1 to rounding.
        string outDir = Path.Combine(narrow.Root, "cmp-cca");
        var written = CompareWorkflow.Run([narrow.Run, narrow.Run], outDir, new StreamOptions(Examples: NarrowRunFixture.Examples, BatchSize: 200),
                                          SimilarityMeasure.Cca);
        var (r, files) = Assert.Single(written);
        Assert.Equal(["compare_r8-1_vs_r8-2_cca.json", "compare_r8-1_vs_r8-2_cca.png"], files.Select(Path.GetFileName));
        int ones = 0;
        for (int i = 0; i < r.RowLayers.Count; i++)
        {
            if (double.IsNaN(r.Values[i][i])) { continue; }
            Assert.Equal(1.0, r.Values[i][i], 10);
            ones++;
        }
        Assert.True(ones >= 1);
        for (int i = 0; i < r.RowLayers.Count; i++)
        {
            for (int j = 0; j < r.ColumnLayers.Count; j++)
            {
                if (!double.IsNaN(r.Values[i][j])) { Assert.Equal(r.Values[i][j], r.Values[j][i], 12); }
            }
        }
    }

    [Fact]
    public void LayerPassesWithinAMemoryBudgetGiveTheSameMap()
    {
        // A budget below one layer reads one layer per pass: the same numbers as one pass for all.
        using var source = new RunSource(tiny.Run, new StreamOptions(Examples: 60, BatchSize: 25));
        var one = MeasureMaps.WithinModel(source, SimilarityMeasure.Procrustes, MeasureOptions.Default, 25);
        var many = MeasureMaps.WithinModel(source, SimilarityMeasure.Procrustes, MeasureOptions.Default, 25, budgetBytes: 1);
        Assert.Equal(one.Matrix.Values.Cast<double>(), many.Matrix.Values.Cast<double>());
    }

    [Fact]
    public void CliLayersAndCompareTakeAMeasureAndRecordIt()
    {
        var o = CliRunner.Run("layers", tiny.Run, "--measure", "pwcca", "--examples", "80", "--batch-size", "40");
        Assert.True(o.ExitCode == 0, o.Err);
        Assert.Contains("PWCCA", o.Out);
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(tiny.Run, "analysis", "layers_pwcca.json"))).RootElement;
        Assert.False(json.GetProperty("measure").GetProperty("symmetric").GetBoolean());

        string outDir = Path.Combine(tiny.Root, "cmp-cli");
        var c = CliRunner.Run("compare", tiny.Run, tiny.Run, "--measure", "procrustes", "--examples", "60", "--out", outDir);
        Assert.True(c.ExitCode == 0, c.Err);
        var cj = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "compare_r14-1_vs_r14-2_procrustes.json"))).RootElement;
        Assert.Equal("procrustes", cj.GetProperty("measure").GetProperty("measure").GetString());
        Assert.Equal(1.0, cj.GetProperty("values")[0][0].GetDouble(), 10);

        // The default stays minibatch CKA, and says so.
        var d = CliRunner.Run("layers", tiny.Run, "--examples", "80", "--batch-size", "40");
        Assert.True(d.ExitCode == 0, d.Err);
        var dj = JsonDocument.Parse(File.ReadAllText(Path.Combine(tiny.Run, "analysis", "layers.json"))).RootElement.GetProperty("measure");
        Assert.Equal("cka", dj.GetProperty("measure").GetString());
        Assert.Equal("linear", dj.GetProperty("kernel").GetString());
        Assert.Equal("unbiased", dj.GetProperty("estimator").GetString());
        Assert.Equal(40, dj.GetProperty("batchSize").GetInt32());

        var bad = CliRunner.Run("layers", tiny.Run, "--measure", "cca", "--epochs", "2");
        Assert.NotEqual(0, bad.ExitCode);
        Assert.StartsWith("repscope: error: ", bad.Err.Trim());
        Assert.Contains("--epochs", bad.Err);
        var svcca = CliRunner.Run("layers", tiny.Run, "--measure", "cca", "--svcca-variance", "0.9");
        Assert.Contains("--svcca-variance applies to --measure svcca only", svcca.Err);
    }
}
