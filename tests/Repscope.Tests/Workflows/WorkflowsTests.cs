using Repscope.Models;
using Repscope.Tests.Analysis;
using Repscope.Workflows;

namespace Repscope.Tests.Workflows;

/// <summary>The workflows called directly: what they return, the files they name, and layers.json read back through the same record.</summary>
public class WorkflowsTests(TinyRunFixture fixture) : IClassFixture<TinyRunFixture>
{
    [Fact]
    public void LayersReturnsItsFilesAndReadsBackTheSameResult()
    {
        Assert.Null(LayersWorkflow.TryRead(Path.Combine(fixture.Root, "no-such-run")));
        var (result, files) = LayersWorkflow.Run(fixture.Run, new StreamOptions(Examples: 100, BatchSize: 50));
        string folder = Path.Combine(fixture.Run, "analysis");
        Assert.Equal([Path.Combine(folder, "layers.json"), Path.Combine(folder, "layers.png"), Path.Combine(folder, "layers_pc1.png"),
                      Path.Combine(folder, "layers_batches.npz")], files);
        Assert.All(files, f => Assert.True(new FileInfo(f).Length > 0, f));
        Assert.Equal(100, result.Examples);
        Assert.Equal(TapSet.Blocks, result.Taps);

        var (read, path) = LayersWorkflow.TryRead(fixture.Run)!.Value;
        Assert.Equal(files[0], path);
        Assert.Equal(result.Layers, read.Layers);
        Assert.Equal(result.Cka.SelectMany(r => r), read.Cka.SelectMany(r => r));
        Assert.Equal(result.Pc1Fraction, read.Pc1Fraction);
        Assert.Equal(result.BlockStructure.Spans, read.BlockStructure.Spans);
        Assert.Equal(result.BlockStructure.Level, read.BlockStructure.Level);

        // The block-structure score with its interval is written and read back, and the batches saved beside it give the same map.
        Assert.NotNull(result.BlockStructureScore);
        Assert.Equal(result.BlockStructureScore!.Point.Strength, read.BlockStructureScore!.Point.Strength);
        Assert.Equal((result.BlockStructureScore.Point.First, result.BlockStructureScore.Point.Last),
                     (read.BlockStructureScore.Point.First, read.BlockStructureScore.Point.Last));
        var again = Repscope.Similarity.CkaBatchState.Load(files[3]).Result().ValueRows();
        for (int i = 0; i < result.Cka.Length; i++) { for (int j = 0; j < result.Cka[i].Length; j++) { Assert.Equal(result.Cka[i][j], again[i][j], 12); } }
    }

    [Fact]
    public void BranchTapsSitBeforeTheirBlockOutput()
    {
        var (result, _) = PcWorkflow.Run(fixture.Run, new StreamOptions(Examples: 60, BatchSize: 30, Taps: TapSet.Branches));
        // ResNet-14: the stem, then per residual block its branch and its output.
        Assert.Equal(1 + 2 * 6, result.Layers.Count);
        Assert.Equal(["stem", "stage1.block1.branch", "stage1.block1", "stage1.block2.branch", "stage1.block2"], result.Layers.Take(5));
        Assert.Equal(result.Layers.Count, result.Cka.Length);
    }

    [Fact]
    public void CompareNamesItsFilesAfterTheRuns()
    {
        string out1 = Path.Combine(fixture.Root, "cmp-workflow");
        var written = CompareWorkflow.Run([fixture.Run, fixture.Run], out1, new StreamOptions(Examples: 40, BatchSize: 20));
        var (result, files) = Assert.Single(written);
        Assert.Equal(["compare_r14-1_vs_r14-2.json", "compare_r14-1_vs_r14-2.png"], files.Select(Path.GetFileName));
        Assert.All(files, f => Assert.True(File.Exists(f), f));
        // A model against itself: CKA 1 on the diagonal.
        for (int i = 0; i < result.RowLayers.Count; i++) { Assert.Equal(1.0, result.Cka[i][i], 6); }
    }
}
