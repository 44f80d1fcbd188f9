using Repscope.Analysis;
using Repscope.Models;
using Repscope.Spectral;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Tests.Analysis;

public class LayerSimilarityTests
{
    /// <summary>A pass over stored layer matrices in batches of <paramref name="batch"/> rows.</summary>
    internal static ActivationPass Pass(IReadOnlyList<Tensor> layers, int batch, long[]? labels = null)
    {
        long n = layers[0].shape[0];
        return onBatch =>
        {
            for (long s = 0; s < n; s += batch)
            {
                using var scope = torch.NewDisposeScope();
                long b = Math.Min(batch, n - s);
                onBatch(labels is null ? new long[b] : labels[(int)s..(int)(s + b)], layers.Select(x => x.narrow(0, s, b)).ToList());
            }
        };
    }

    private static List<Tensor> Stack(int seed)
    {
        // Stem-like noise, then four layers that share one dominant direction, then two unrelated ones.
        var gen = new torch.Generator((ulong)seed);
        var dominant = torch.randn([300, 1], generator: gen) * 6;
        var shared = dominant * torch.randn([1, 24], generator: gen);
        var layers = new List<Tensor> { torch.randn([300, 24], generator: gen) };
        for (int i = 0; i < 4; i++) { layers.Add(shared + torch.randn([300, 24], generator: gen)); }
        layers.Add(torch.randn([300, 24], generator: gen));
        layers.Add(torch.randn([300, 24], generator: gen).relu());
        return layers;
    }

    private static readonly string[] Names = ["stem", "stage1.block1", "stage1.block2", "stage2.block1", "stage2.block2", "stage3.block1", "stage3.block2"];

    [Fact]
    public void WithinModelMapIsSymmetricWithUnitDiagonalAndFindsThePlantedBlock()
    {
        using var scope = torch.NewDisposeScope();
        var stack = Stack(1);
        var r = LayerSimilarity.WithinModel(Names, [Pass(stack, 64)], new FirstComponentOptions(Rank: 24, PowerIterations: 0));
        var m = r.Cka.Values;
        for (int i = 0; i < Names.Length; i++)
        {
            Assert.Equal(1, m[i, i], 12);
            for (int j = 0; j < Names.Length; j++) { Assert.Equal(m[i, j], m[j, i], 12); }
        }
        var b = Assert.Single(r.BlockStructure.Spans);
        Assert.Equal((1, 4), (b.First, b.Last));
        Assert.True(b.MeanPc1Fraction > 0.8, $"{b.MeanPc1Fraction}");
        Assert.Equal(300, r.Examples);
        Assert.Equal(5, r.Batches);     // 64 x 4 + 44
        // PC1 fraction matches an SVD of the same activations (rank 24 = all features: exact).
        for (int i = 0; i < stack.Count; i++)
        {
            var xc = stack[i].to(ScalarType.Float64) - stack[i].to(ScalarType.Float64).mean([0L], keepdim: true);
            var s = torch.linalg.svdvals(xc);
            Assert.Equal(s[0].square().item<double>() / s.square().sum().item<double>(), r.Pc1Fractions[i], 1e-5);
        }
    }

    [Fact]
    public void MoreEpochsAccumulateMoreBatches()
    {
        using var scope = torch.NewDisposeScope();
        var stack = Stack(2);
        var one = LayerSimilarity.WithinModel(Names, [Pass(stack, 50)]);
        var two = LayerSimilarity.WithinModel(Names, [Pass(stack, 50), Pass(stack, 50)]);
        Assert.Equal(2 * one.Batches, two.Batches);
        // The same batches twice: the same mean, so the same CKA.
        Assert.Equal(one.Cka.Values[1, 3], two.Cka.Values[1, 3], 12);
    }

    [Fact]
    public void OneSetOfCkaWorkersForAllBatchesGivesTheBitsOfWorkersMadePerBatch()
    {
        // WithinModel keeps one set of CKA worker threads and their buffers for every batch; an accumulator fed batch by batch
        // through its public Add makes its own workers for each batch. The map and every batch's HSIC values agree bit for bit.
        using var scope = torch.NewDisposeScope();
        var stack = Stack(5);
        var r = LayerSimilarity.WithinModel(Names, [Pass(stack, 40)], scoreOptions: new ScoreOptions(Replicates: 0));
        var alone = new Repscope.Similarity.MinibatchCkaAccumulator(Names) { KeepBatches = true };
        Pass(stack, 40)((_, taps) => alone.Add(taps));
        static long[] Bits(IEnumerable<double> values) => values.Select(BitConverter.DoubleToInt64Bits).ToArray();
        Assert.Equal(Bits(alone.Result().Values.Cast<double>()), Bits(r.Cka.Values.Cast<double>()));
        Assert.Equal(8, r.BatchState!.Batches);
        Assert.Equal(Bits(alone.BatchState().Cross.SelectMany(c => c)), Bits(r.BatchState.Cross.SelectMany(c => c)));
        Assert.True(r.Cka.Values[1, 2] > 0.5 && Math.Abs(r.Cka.Values[0, 5]) < 0.1, "a map with both similar and unrelated layers");
    }

    [Fact]
    public void CrossModelMapOfAStackWithItselfIsItsWithinModelMap()
    {
        using var scope = torch.NewDisposeScope();
        var stack = Stack(3);
        var within = LayerSimilarity.WithinModel(Names, [Pass(stack, 60)]);
        var cross = LayerSimilarity.CrossModel(Names, Names, onBatch => Pass(stack, 60)((_, t) => onBatch(t, t)), out _);
        for (int i = 0; i < Names.Length; i++)
        {
            for (int j = 0; j < Names.Length; j++) { Assert.Equal(within.Cka.Values[i, j], cross.Values[i, j], 9); }
        }
    }

    [Fact]
    public void RemovingTheSharedComponentDissolvesTheBlock()
    {
        using var scope = torch.NewDisposeScope();
        var stack = Stack(4);
        var r = LayerSimilarity.PrincipalComponents(Names, Pass(stack, 100), new FirstComponentOptions(Rank: 24, PowerIterations: 0));
        Assert.True(r.BlockStructure.Found);
        Assert.False(r.BlockStructureWithoutPc1.Found);
        for (int i = 1; i <= 4; i++)
        {
            for (int j = 1; j <= 4; j++)
            {
                Assert.True(r.Pc1Cosines.Values[i, j] > 0.95, $"cos^2({i},{j}) = {r.Pc1Cosines.Values[i, j]}");
                if (i != j) { Assert.True(r.CkaWithoutPc1.Values[i, j] < 0.3, $"CKA without PC1 ({i},{j}) = {r.CkaWithoutPc1.Values[i, j]}"); }
            }
        }
        Assert.True(r.Pc1Cosines.Values[0, 5] < 0.2);
        Assert.Equal(1, r.CkaWithoutPc1.Values[2, 2], 12);
        // The relative score: the planted square with an interval above 0; without PC1, an interval below the one with it.
        Assert.Equal((1, 4), (r.Score!.Point.First, r.Score.Point.Last));
        Assert.True(r.Score.Strength.Low > 0, $"[{r.Score.Strength.Low}, {r.Score.Strength.High}]");
        Assert.True(r.ScoreWithoutPc1!.Strength.High < r.Score.Strength.Low,
                    $"without PC1 [{r.ScoreWithoutPc1.Strength.Low}, {r.ScoreWithoutPc1.Strength.High}], with [{r.Score.Strength.Low}, {r.Score.Strength.High}]");
    }

    [Fact]
    public void TheScoreIsThatOfTheMapAndItsStateReproducesTheMap()
    {
        using var scope = torch.NewDisposeScope();
        var stack = Stack(6);
        var r = LayerSimilarity.WithinModel(Names, [Pass(stack, 30)], scoreOptions: new ScoreOptions(Replicates: 300, Seed: 4));
        Assert.Equal(10, r.BatchState!.Batches);
        var again = r.BatchState.Result();
        for (int i = 0; i < Names.Length; i++)
        {
            for (int j = 0; j < Names.Length; j++) { Assert.Equal(r.Cka.Values[i, j], again.Values[i, j]); }
        }
        var direct = BlockStructureScore.Score(r.Cka.Values, Names, BlockStructureScore.ResidualBlockUnits(Names));
        Assert.Equal(direct.Strength, r.Score!.Point.Strength);
        Assert.Equal(direct.ResidualBlocks, r.Score.Point.ResidualBlocks);
        Assert.Equal(300, r.Score.Strength.Replicates);
        Assert.Equal(4UL, r.Score.Strength.Seed);
        var none = LayerSimilarity.WithinModel(Names, [Pass(stack, 300)]);   // one batch: no interval, said why
        Assert.NotNull(none.Score!.Strength.Undefined);
        Assert.Equal(none.Score.Point.Strength, BlockStructureScore.Score(none.Cka.Values, Names, BlockStructureScore.ResidualBlockUnits(Names)).Strength);
    }

    [Fact]
    public void ConstantLayerIsReportedNotHidden()
    {
        using var scope = torch.NewDisposeScope();
        var stack = Stack(5);
        stack[6] = torch.ones(300, 24);
        var r = LayerSimilarity.WithinModel(Names, [Pass(stack, 100)]);
        Assert.True(double.IsNaN(r.Cka.Values[6, 0]));
        Assert.Contains(r.Warnings, w => w.Contains("stage3.block2"));
    }
}
