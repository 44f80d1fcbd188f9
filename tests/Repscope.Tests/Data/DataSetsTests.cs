using Repscope.Data;

namespace Repscope.Tests.Data;

public class DataSetsTests
{
    [Fact]
    public void StratifiedSubsetsKeepClassSharesAndDependOnlyOnTheSeed()
    {
        var labels = Enumerable.Range(0, 1000).Select(i => (long)(i < 600 ? 0 : i < 900 ? 1 : 2)).ToArray();
        var a = Subsets.Stratified(labels, 3, 100, seed: 5);
        Assert.Equal(100, a.Length);
        Assert.Equal(a.Order().ToArray(), a);
        Assert.Equal(a.Length, a.Distinct().Count());
        Assert.Equal(60, a.Count(i => labels[i] == 0));
        Assert.Equal(30, a.Count(i => labels[i] == 1));
        Assert.Equal(10, a.Count(i => labels[i] == 2));
        Assert.Equal(a, Subsets.Stratified(labels, 3, 100, seed: 5));
        Assert.NotEqual(a, Subsets.Stratified(labels, 3, 100, seed: 6));
        // Largest remainder: 7 of (600, 300, 100) -> exact 4.2, 2.1, 0.7 -> 4, 2, 1.
        var b = Subsets.Stratified(labels, 3, 7, seed: 1);
        Assert.Equal(new[] { 4, 2, 1 }, new[] { 0, 1, 2 }.Select(c => b.Count(i => labels[i] == c)));
        Assert.Throws<RepscopeException>(() => Subsets.Stratified(labels, 3, 1001, seed: 1));
    }

    [Fact]
    public void ShippedFashionMnistIsSplitEightThousandToTwoThousand()
    {
        using var d = DataSets.Load(new DataSpec { Name = DataName.FashionMnistSmall, TrainExamples = 1000, Seed = 3 });
        Assert.Equal(DataSource.TestSplitOnly, d.Source);
        Assert.Equal(8000, d.TrainAvailable);
        Assert.Equal(2000, d.Test.Count);
        Assert.All(d.Test.ClassCounts(), c => Assert.Equal(200, c));
        Assert.All(d.Train.ClassCounts(), c => Assert.Equal(100, c));
        Assert.Equal(new long[] { 1000, 1, 28, 28 }, d.Train.Images.shape);
        Assert.Equal("T-shirt/top", d.Train.ClassNames[0]);
        // Normalised with the statistics of the 8,000 training images: mean about 0, std about 1 there.
        Assert.InRange(d.Normalisation.Mean[0], 0.27, 0.30);
        Assert.InRange(d.Normalisation.Std[0], 0.33, 0.37);
        // Same seed, same examples; the test part is fixed whatever the seed.
        using var again = DataSets.Load(new DataSpec { Name = DataName.FashionMnistSmall, TrainExamples = 1000, Seed = 3 });
        using var other = DataSets.Load(new DataSpec { Name = DataName.FashionMnistSmall, TrainExamples = 1000, Seed = 4 });
        Assert.Equal(d.Train.Fingerprint, again.Train.Fingerprint);
        Assert.NotEqual(d.Train.Fingerprint, other.Train.Fingerprint);
        Assert.Equal(d.Test.Fingerprint, other.Test.Fingerprint);
    }

    [Fact]
    public void MissingDataSetSaysWhereItLookedAndHowToGetIt()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<RepscopeException>(() => DataSets.Load(new DataSpec { Name = DataName.Mnist, Path = dir.Path }));
        Assert.Contains("data set 'mnist' not found", e.Message);
        Assert.Contains(dir.Path, e.Message);
        Assert.Contains("To get it", e.Message);
        e = Assert.Throws<RepscopeException>(() => DataSets.Load(new DataSpec { Name = DataName.Cifar10, Path = dir.Path }));
        Assert.Contains("cifar-10-binary", e.Message);
        Assert.Contains("/usr/share/datasets/fashion-mnist", string.Join(" ", DataSets.SearchFolders("fashion-mnist")));
    }

    [Fact]
    public void IdxFolderWithSubsetsAndBadRequests()
    {
        using var dir = new TempDir();
        DataFiles.WriteIdxDataSet(dir.Path, DataFiles.Quadrants(40, 8, 1), DataFiles.Quadrants(20, 8, 2));
        using var d = DataSets.Load(new DataSpec { Name = DataName.Mnist, Path = dir.Path, TrainFraction = 0.5, TestExamples = 8 });
        Assert.Equal(DataSource.Full, d.Source);
        Assert.Equal(20, d.Train.Count);
        Assert.Equal(8, d.Test.Count);
        Assert.All(d.Test.ClassCounts().Take(4), c => Assert.Equal(2, c));
        using (var capped = DataSets.Load(new DataSpec { Name = DataName.Mnist, Path = dir.Path, TrainExamplesCap = 12 }))
        using (var uncapped = DataSets.Load(new DataSpec { Name = DataName.Mnist, Path = dir.Path, TrainExamplesCap = 8000 }))
        {
            Assert.Equal(12, capped.Train.Count);
            Assert.Equal(40, uncapped.Train.Count);
        }
        var e = Assert.Throws<RepscopeException>(() => DataSets.Load(new DataSpec { Name = DataName.Mnist, Path = dir.Path, TrainExamples = 41 }));
        Assert.Contains("has only 40 examples", e.Message);
        e = Assert.Throws<RepscopeException>(() => DataSets.Load(new DataSpec { Name = DataName.Mnist, Path = dir.Path, TrainExamples = 4, TrainFraction = 0.5 }));
        Assert.Contains("not both", e.Message);
    }

    [Theory]
    [InlineData("fashion-mnist", DataName.FashionMnist, null)]
    [InlineData("CIFAR10:/x/y", DataName.Cifar10, "/x/y")]
    [InlineData("folder:./pets", DataName.Folder, "./pets")]
    [InlineData("fashion-mnist-small", DataName.FashionMnistSmall, null)]
    public void ParsesNameAndPath(string text, DataName name, string? path) =>
        Assert.Equal((name, path), DataSpec.ParseNameAndPath(text));

    [Theory]
    [InlineData("imagenet", "unknown data set 'imagenet'")]
    [InlineData("folder", "folder needs a path")]
    [InlineData("mnist:", "empty path")]
    public void RejectsBadDataNames(string text, string expected) =>
        Assert.Contains(expected, Assert.Throws<RepscopeException>(() => DataSpec.ParseNameAndPath(text)).Message);
}
