using Repscope.Models;

namespace Repscope.Tests.Models;

public class LayerNamesTests
{
    [Fact]
    public void StagesBlocksAndBranches()
    {
        string[] layers = ["stem", "stage1.block1", "stage1.block1.branch", "stage1.block2", "stage2.block1.conv1", "stage2.block1", "stage3.block1"];
        Assert.Equal(new[] { 1, 4, 6 }, LayerNames.StageBoundaries(layers));
        Assert.Equal(new[] { 0, 1, 1, 1, 2, 2, 3 }, layers.Select(LayerNames.StageNumber));
        Assert.Equal(new[] { "stage1.block1", "stage1.block2", "stage2.block1", "stage3.block1" }, layers.Where(LayerNames.IsBlockOutput));
        Assert.Equal(new[] { "stage1.block1.branch" }, layers.Where(LayerNames.IsBranch));
    }

    [Theory]
    [InlineData("stem", 16 * 32 * 32, 32, 16, 32)]
    [InlineData("stage1.block3", 64 * 32 * 32, 32, 64, 32)]
    [InlineData("stage2.block1.branch", 32 * 16 * 16, 32, 32, 16)]
    [InlineData("stage3.block2", 64 * 8 * 8, 32, 64, 8)]
    [InlineData("stage3.block2", 64 * 7 * 7, 28, 64, 7)]   // 28 -> 14 -> 7 (MNIST-sized input)
    public void SpatialShapeOfCifarResNetTaps(string layer, long features, long side, long channels, long spatial)
    {
        Assert.Equal((channels, spatial, spatial), LayerNames.SpatialShape(layer, features, side, side));
    }

    [Fact]
    public void SizeThatDoesNotFitIsNotSpatial() => Assert.Null(LayerNames.SpatialShape("stage3.block1", 1000, 32, 32));
}
