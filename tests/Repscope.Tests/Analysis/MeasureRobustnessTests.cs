using Repscope.Analysis;
using Repscope.Models;
using Repscope.Similarity;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Tests.Analysis;

public class MeasureRobustnessTests
{
    /// <summary>8 layers; layers 2..5 share one signal (a planted block), the others are independent.</summary>
    private static (string[] Names, List<Tensor> Layers) Planted(long n = 120)
    {
        var g = new Generator(11);
        var shared = torch.randn(n, 6, dtype: ScalarType.Float64, generator: g);
        var layers = new List<Tensor>();
        for (int i = 0; i < 8; i++)
        {
            var own = torch.randn(n, 6, dtype: ScalarType.Float64, generator: g);
            layers.Add(i is >= 2 and <= 5
                ? shared.mm(torch.randn(6, 6, dtype: ScalarType.Float64, generator: g)) * 0.1 + shared + 0.1 * own
                : own);
        }
        return (Enumerable.Range(0, 8).Select(i => $"stage1.block{i + 1}").ToArray(), layers);
    }

    [Fact]
    public void PlantedBlockIsFoundUnderEveryMeasureAndTheSentenceGivesTheNumbers()
    {
        var (names, layers) = Planted();
        var r = MeasureRobustness.WithinModel(names, layers);
        Assert.Equal(["linear CKA", "RBF CKA", "SVCCA", "Procrustes"], r.Maps.Select(m => m.Name));
        foreach (var m in r.Maps)
        {
            Assert.Equal((2, 5), (m.Score.First, m.Score.Last));
            Assert.True(m.Score.Strength > 0.1, $"{m.Name}: strength {m.Score.Strength}");
            Assert.Equal(1.0, m.OverlapWithLinearCka, 12);
            Assert.Empty(m.Undefined);
        }
        Assert.Equal(1.0, r.Maps[0].RankCorrelationWithLinearCka, 12);
        Assert.Equal(Procrustes.Similarity(layers[2], layers[4]), r.Maps[3].Map[2, 4], 11);
        Assert.Equal(Cka.Compute(layers[1], layers[4], new CkaOptions(KernelKind.Rbf)), r.Maps[1].Map[1, 4], 11);
        Assert.Equal(Cka.Compute(layers[6], layers[2], new CkaOptions(KernelKind.Rbf)), r.Maps[1].Map[2, 6], 11);
        Assert.Contains("found under 4 of 4 measures", r.Sentence);
        Assert.Contains($"strength {r.Maps[2].Score.Strength:F3}", r.Sentence);
        Assert.Contains("stage1.block3..stage1.block6", r.Sentence);
    }

    [Fact]
    public void FromAPassItTakesTheFirstExamplesOnly()
    {
        var (names, layers) = Planted(100);
        ActivationPass pass = onBatch =>
        {
            for (long s = 0; s < 100; s += 32)
            {
                long len = Math.Min(32, 100 - s);
                onBatch(new long[len], layers.Select(t => t.narrow(0, s, len).reshape(len, 2, 3).to_type(ScalarType.Float32)).ToList());
            }
        };
        var fromPass = MeasureRobustness.WithinModel(names, pass, examples: 70);
        var direct = MeasureRobustness.WithinModel(names, layers.Select(t => t.narrow(0, 0, 70).to_type(ScalarType.Float32)).ToList());
        Assert.Equal(70, fromPass.Examples);
        for (int m = 0; m < 4; m++)
        {
            Assert.Equal(direct.Maps[m].Map[1, 3], fromPass.Maps[m].Map[1, 3], 12);
        }
    }

    [Fact]
    public void JaccardOfTheBestSquares()
    {
        BlockStructureScoreResult S(int a, int b) => new(10, a, b, $"l{a}", $"l{b}", 0.1, 0.1, 0.1, []);
        Assert.Equal(2.0 / 6, MeasureRobustness.Jaccard(S(0, 3), S(2, 5)), 12);
        Assert.Equal(0.0, MeasureRobustness.Jaccard(S(0, 1), S(5, 6)), 12);
    }
}
