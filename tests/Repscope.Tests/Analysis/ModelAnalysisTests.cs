using Repscope.Analysis;
using Repscope.Data;
using Repscope.Models;
using Repscope.Spectral;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Tests.Analysis;

/// <summary>The analyses on a tiny ResNet with fixed random weights, through its own forward pass and hooks.</summary>
public class ModelAnalysisTests
{
    internal static ImageDataset Images(int n, int seed, int side = 8, int classes = 3)
    {
        var rng = new Random(seed);
        var pixels = new byte[n * side * side];
        rng.NextBytes(pixels);
        var labels = Enumerable.Range(0, n).Select(_ => (long)rng.Next(classes)).ToArray();
        return new ImageDataset("random", new RawImages(pixels, labels, 1, side, side), classes,
                                Enumerable.Range(0, classes).Select(c => $"c{c}").ToArray(), new Normalisation([127.5], [64.0]));
    }

    internal static ResNet Model(int depth = 20, int seed = 1)
    {
        var model = ResNet.Cifar(depth, 0.5, residual: true, classes: 3, inChannels: 1);
        model.Initialise(new torch.Generator((ulong)seed));
        model.eval();
        return model;
    }

    private static ActivationPass Pass(ResNet model, ImageDataset data, int batch, TapSet set = TapSet.Blocks) =>
        onBatch => Activations.Stream(model, data, batch, set, onBatch);

    /// <summary>Zeroes the last BN of every block branch of a stage: each of its blocks then passes its input on unchanged.</summary>
    private static void SilenceBranches(ResNet model, int stage)
    {
        using var noGrad = torch.no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (name.StartsWith($"stage{stage}.", StringComparison.Ordinal) && name.Contains(".branch.bn2.")) { p.zero_(); }
        }
    }

    [Fact]
    public void WithinModelMapIsSymmetricWithUnitDiagonalAndPc1MatchesSvd()
    {
        using var scope = torch.NewDisposeScope();
        using var model = Model();
        using var data = Images(64, 1);
        var layers = model.TapNames(TapSet.Blocks);
        var r = LayerSimilarity.WithinModel(layers, [Pass(model, data, 16)], new FirstComponentOptions(Rank: 64, PowerIterations: 0));
        var m = r.Cka.Values;
        for (int i = 0; i < layers.Count; i++)
        {
            Assert.Equal(1, m[i, i], 12);
            for (int j = 0; j < layers.Count; j++)
            {
                Assert.Equal(m[i, j], m[j, i], 12);
                Assert.InRange(m[i, j], -0.2, 1 + 1e-9);
            }
        }
        var stored = layers.Select(_ => new List<Tensor>()).ToList();
        Pass(model, data, 64)((_, taps) => { for (int i = 0; i < taps.Count; i++) { stored[i].Add(taps[i].to(ScalarType.Float64).clone().DetachFromDisposeScope()); } });
        for (int i = 0; i < layers.Count; i++)
        {
            var x = torch.cat(stored[i], 0);
            var s = torch.linalg.svdvals(x - x.mean([0L], keepdim: true));
            Assert.Equal(s[0].square().item<double>() / s.square().sum().item<double>(), r.Pc1Fractions[i], 1e-5);
            foreach (var t in stored[i]) { t.Dispose(); }
        }
        // The default (randomized, rank 16, one power iteration) stays close on real activations.
        var approx = LayerSimilarity.WithinModel(layers, [Pass(model, data, 16)]);
        for (int i = 0; i < layers.Count; i++) { Assert.InRange(approx.Pc1Fractions[i], r.Pc1Fractions[i] * 0.97, r.Pc1Fractions[i] * (1 + 1e-6)); }
    }

    [Fact]
    public void CrossModelMapOfAModelWithItselfIsItsWithinModelMap()
    {
        using var scope = torch.NewDisposeScope();
        using var model = Model(14);
        using var data = Images(40, 2);
        var layers = model.TapNames(TapSet.Blocks);
        var within = LayerSimilarity.WithinModel(layers, [Pass(model, data, 20)]);
        var cross = LayerSimilarity.CrossModel(layers, layers, onBatch => Pass(model, data, 20)((_, t) => onBatch(t, t)), out _);
        for (int i = 0; i < layers.Count; i++)
        {
            for (int j = 0; j < layers.Count; j++) { Assert.Equal(within.Cka.Values[i, j], cross.Values[i, j], 9); }
        }
    }

    [Fact]
    public void IdenticalLayersShowOneBlock()
    {
        using var scope = torch.NewDisposeScope();
        using var model = Model(20);
        SilenceBranches(model, 1);     // stem, stage1.block1..3 now carry the same representation
        using var data = Images(48, 3);
        var layers = model.TapNames(TapSet.Blocks);
        var r = LayerSimilarity.WithinModel(layers, [Pass(model, data, 16)], blockOptions: new BlockStructureOptions(0.9999, 4));
        var b = Assert.Single(r.BlockStructure.Spans);
        Assert.Equal(("stem", "stage1.block3"), (b.FirstLayer, b.LastLayer));
        Assert.Equal(1, b.MeanCka, 9);
    }

    [Fact]
    public void DeletingNoBlockGivesTheModelsAccuracyAndDeletingIdentityBlocksChangesNothing()
    {
        using var scope = torch.NewDisposeScope();
        using var model = Model(14, seed: 4);
        SilenceBranches(model, 1);
        using var data = Images(50, 4);
        long correct;
        using (torch.no_grad())
        {
            var predictions = model.call(data.Images).argmax(1).data<long>().ToArray();
            correct = predictions.Zip(data.Labels).Count(p => p.First == p.Second);
        }
        var r = Pruning.Run(model, data, null, batchSize: 16, new HashSet<string> { "stage1.block2" });
        Assert.Equal(correct / 50.0, r.Baseline, 12);
        Assert.Equal(6, r.Steps.Count);   // 2 blocks in each of 3 stages
        var stage1 = r.Steps.Where(s => s.Stage == 1).ToList();
        Assert.All(stage1, s => Assert.Equal(r.Baseline, s.Accuracy, 12));     // identity blocks: nothing changes
        Assert.Equal(new[] { "stage1.block2" }, stage1[0].DeletedBlocks);
        Assert.Equal(new[] { "stage1.block1", "stage1.block2" }, stage1[1].DeletedBlocks);
        Assert.True(stage1[0].InBlockStructure);
        Assert.False(stage1[1].InBlockStructure);
        Assert.Empty(model.DeletedBlocks);                                     // restored
        // per-example correctness: the baseline's is the direct prediction's, each step's mean is its accuracy
        using (torch.no_grad())
        {
            var predictions = model.call(data.Images).argmax(1).data<long>().ToArray();
            Assert.Equal(predictions.Zip(data.Labels, (p, y) => p == y), r.BaselineCorrect!);
        }
        Assert.All(r.Steps, s => Assert.Equal(s.Accuracy, s.Correct!.Average(c => c ? 1.0 : 0.0), 12));
        var drop = r.AccuracyDrop(r.Steps.Last(), replicates: 200);
        Assert.Equal(r.Baseline - r.Steps.Last().Accuracy, drop.Estimate, 12);
        Assert.Equal(50, drop.N);
        var none = r.AccuracyDrop(stage1[0], replicates: 200);                  // identical predictions: a point interval at 0
        Assert.Equal((0.0, 0.0, 0.0), (none.Estimate, none.Low, none.High));
    }

    [Fact]
    public void RefittingTheHeadOnTheSameExamplesIsAtLeastChance()
    {
        using var scope = torch.NewDisposeScope();
        using var model = Model(14, seed: 5);
        using var data = Images(60, 5);
        var r = Pruning.Run(model, data, data, batchSize: 32, refitOptions: new ProbeOptions(MaxIterations: 50));
        Assert.NotNull(r.RefitBaseline);
        // The head refitted on the very examples it is scored on is at least as accurate as the trained head was there
        // (64 features, 60 examples: separable), for the whole model and after every deletion.
        Assert.True(r.RefitBaseline!.Value >= r.Baseline, $"refit {r.RefitBaseline} < {r.Baseline}");
        Assert.All(r.Steps, s => Assert.True(s.RefitAccuracy!.Value >= s.Accuracy, $"{string.Join(",", s.DeletedBlocks)}: refit {s.RefitAccuracy} < {s.Accuracy}"));
        Assert.Equal(60, r.RefitExamples);
    }

    [Fact]
    public void ATapThatNeverFiresIsAnErrorNamingIt()
    {
        using var scope = torch.NewDisposeScope();
        using var model = Model(14);
        using var data = Images(16, 6);
        model.DeletedBlocks = new HashSet<string> { "stage2.block2" };
        var layers = model.TapNames(TapSet.All);   // the branch inside a deleted block never runs
        var e = Assert.Throws<RepscopeException>(() => LayerSimilarity.WithinModel(layers, [Pass(model, data, 8, TapSet.All)]));
        Assert.Contains("stage2.block2.branch", e.Message);
    }

    [Fact]
    public void ProbesDoNotDependOnHowLayersAreGroupedInMemory()
    {
        using var scope = torch.NewDisposeScope();
        var gen = new torch.Generator(7);
        var labels = torch.randint(0, 3, [120], generator: gen);
        var separable = torch.nn.functional.one_hot(labels, 3).to(ScalarType.Float32) * 4 + torch.randn([120, 3], generator: gen) * 0.5f;
        var noise = torch.randn([120, 2, 4, 4], generator: gen).reshape(120, -1);
        var stack = new List<Tensor> { separable, noise };
        string[] names = ["separable", "noise"];
        var pooling = new[] { ProbePooling.For(3, 1, 1, 64), ProbePooling.For(2, 4, 4, 8) };
        var pass = LayerSimilarityTests.Pass(stack, 32, labels.data<long>().ToArray());
        var together = ProbeAnalysis.Run(names, pooling, pass, 120, 80, 3);
        var apart = ProbeAnalysis.Run(names, pooling, pass, 120, 80, 3, memoryBudgetBytes: 1);
        Assert.Equal(together.Select(p => p.Result with { TestCorrect = null }), apart.Select(p => p.Result with { TestCorrect = null }));
        Assert.Equal(together.Select(p => p.Result.TestCorrect), apart.Select(p => p.Result.TestCorrect));
        Assert.True(together[0].Result.TestAccuracy > 0.95);
        Assert.True(together[1].Result.TestAccuracy < 0.7);
        Assert.Equal(8, together[1].Result.Features);          // 2 x 4 x 4 pooled to 2 x 2 x 2
        Assert.Equal(40, together[0].Result.TestExamples);
        Assert.Throws<RepscopeException>(() => ProbeAnalysis.Run(names, pooling, pass, 121, 80, 3));
        Assert.Equal(40, together[0].Result.TestCorrect!.Count);
        Assert.Equal(together[0].Result.TestAccuracy, together[0].Result.TestCorrect!.Average(c => c ? 1.0 : 0.0), 12);

        // Held out: training rows from one pass, test rows from another, the same as one pass split at 80.
        var trainPass = LayerSimilarityTests.Pass(stack.Select(t => t[..80]).ToList(), 32, labels.data<long>().ToArray()[..80]);
        var testPass = LayerSimilarityTests.Pass(stack.Select(t => t[80..]).ToList(), 32, labels.data<long>().ToArray()[80..]);
        var heldOut = ProbeAnalysis.RunHeldOut(names, pooling, trainPass, 80, testPass, 40, 3);
        Assert.Equal(together.Select(p => p.Result with { TestCorrect = null }), heldOut.Select(p => p.Result with { TestCorrect = null }));
        Assert.Equal(together[1].Result.TestCorrect, heldOut[1].Result.TestCorrect);
        // The signed change from the noise layer to the separable one, with a paired interval over the 40 test examples.
        var change = ProbeAnalysis.AccuracyChange(heldOut[1].Result, heldOut[0].Result, replicates: 500);
        Assert.Equal(heldOut[0].Result.TestAccuracy - heldOut[1].Result.TestAccuracy, change.Estimate, 12);
        Assert.True(change.Low > 0, $"[{change.Low}, {change.High}]");
        Assert.Throws<RepscopeException>(() => ProbeAnalysis.RunHeldOut(names, pooling, trainPass, 80, testPass, 41, 3));
    }
}
