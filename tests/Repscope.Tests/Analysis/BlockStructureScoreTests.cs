using Repscope.Analysis;

namespace Repscope.Tests.Analysis;

/// <summary>The relative block-structure score on planted CKA maps (docs/block-structure.md).</summary>
public class BlockStructureScoreTests
{
    private static string[] Names(int l) => Enumerable.Range(0, l).Select(i => $"layer{i}").ToArray();

    /// <summary>A block-free profile: CKA decays with layer distance.</summary>
    private static double Decay(double distance) => 0.15 + 0.8 * Math.Exp(-distance / 3.0);

    /// <summary>Decaying background with the square first..last set to <paramref name="inside"/>.</summary>
    private static double[,] Planted(int l, int first, int last, double inside = 0.95)
    {
        var m = new double[l, l];
        for (int i = 0; i < l; i++)
        {
            for (int j = 0; j < l; j++)
            {
                bool inBlock = i >= first && i <= last && j >= first && j <= last;
                m[i, j] = i == j ? 1 : inBlock ? inside : Decay(Math.Abs(i - j));
            }
        }
        return m;
    }

    /// <summary>Symmetric noise of standard deviation sd on the off-diagonal cells, clipped to [0, 1].</summary>
    private static double[,] Noisy(double[,] m, double sd, ulong seed)
    {
        int l = m.GetLength(0);
        var rng = new SeededRandom(seed);
        var r = (double[,])m.Clone();
        for (int i = 0; i < l; i++)
        {
            for (int j = i + 1; j < l; j++)
            {
                // Box-Muller
                double u1 = 1 - rng.NextDouble(), u2 = rng.NextDouble();
                double z = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
                r[i, j] = r[j, i] = Math.Clamp(m[i, j] + sd * z, 0, 1);
            }
        }
        return r;
    }

    [Fact]
    public void UniformlyHighSimilarityScoresZero()
    {
        int l = 20;
        var m = new double[l, l];
        for (int i = 0; i < l; i++) { for (int j = 0; j < l; j++) { m[i, j] = i == j ? 1 : 0.95; } }
        var r = BlockStructureScore.Score(m, Names(l));
        Assert.Equal(0, r.Strength, 12);
        Assert.False(r.Found);
        Assert.All(r.ReferenceProfile.Skip(1), v => Assert.Equal(0.95, v, 12));

        var noisy = BlockStructureScore.Score(Noisy(m, 0.01, 7), Names(l));
        Assert.InRange(noisy.Strength, 0, 0.02);   // noise of sd 0.01 leaves at most ~2 sd of spurious excess
    }

    [Fact]
    public void ABlockFreeDecayingProfileScoresZero()
    {
        int l = 30;
        var m = Planted(l, 0, -1);   // no square
        var r = BlockStructureScore.Score(m, Names(l));
        Assert.Equal(0, r.Strength, 12);
        for (int d = 1; d < l; d++) { Assert.Equal(Decay(d), r.ReferenceProfile[d], 12); }

        var noisy = BlockStructureScore.Score(Noisy(m, 0.01, 11), Names(l));
        Assert.InRange(noisy.Strength, 0, 0.02);
    }

    /// <summary>
    /// The failure of a low-quantile reference (seen on trained networks): with noise of sd s on a smooth decaying map,
    /// about 90 % of the cells lie above the 10 % quantile of their distance, so the whole map became the best square
    /// with strength of about 1.2 s. The reference of the pairs outside the square is a mean: noise averages out.
    /// </summary>
    [Theory]
    [InlineData(0.01, 1UL)]
    [InlineData(0.02, 2UL)]
    [InlineData(0.02, 3UL)]
    public void NoiseOnASmoothDecayingMapScoresFarBelowTheNoise(double sd, ulong seed)
    {
        int l = 30;
        var r = BlockStructureScore.Score(Noisy(Planted(l, 0, -1), sd, seed), Names(l));
        Assert.True(r.Strength < 0.4 * sd, $"strength {r.Strength:F4} with noise sd {sd}");
        // The same map with a planted square of excess about 0.1 scores near e (m - 1) / L and is found.
        var planted = BlockStructureScore.Score(Noisy(Planted(l, 10, 21), sd, seed), Names(l));
        Assert.Equal((10, 21), (planted.First, planted.Last));
        double expected = Enumerable.Range(1, 11).Sum(d => 2.0 * (12 - d) * (0.95 - Decay(d))) / (12.0 * 12) * 12 / l;
        Assert.Equal(expected, planted.Strength, 0.01);
    }

    /// <summary>
    /// CKA that depends on position as well as distance (later layers change more slowly, as in many trained networks)
    /// with one planted square: the square is still found, and a square's strength is its contrast with the pairs at the
    /// same distances outside it.
    /// </summary>
    [Fact]
    public void APlantedSquareOnAPositionDependentMapIsFound()
    {
        int l = 24;
        var m = new double[l, l];
        for (int i = 0; i < l; i++)
        {
            for (int j = 0; j < l; j++)
            {
                double tau = 2 + 4.0 * Math.Min(i, j) / l;   // slower decay later in the network
                bool inBlock = i >= 4 && i <= 11 && j >= 4 && j <= 11;
                m[i, j] = i == j ? 1 : inBlock ? 0.97 : 0.1 + 0.85 * Math.Exp(-Math.Abs(i - j) / tau);
            }
        }
        var r = BlockStructureScore.Score(m, Names(l));
        Assert.Equal((4, 11), (r.First, r.Last));
        // Second formulation: the excess recomputed from the definition, cell by cell.
        double sum = 0;
        for (int i = 4; i <= 11; i++)
        {
            for (int j = 4; j <= 11; j++)
            {
                if (i == j) { continue; }
                int d = Math.Abs(i - j);
                var outside = Enumerable.Range(0, l - d).Where(k => k < 4 || k + d > 11).Select(k => m[k, k + d]).ToList();
                sum += m[i, j] - outside.Average();
            }
        }
        Assert.Equal(sum / 64, r.MeanExcess, 12);
        Assert.Equal(sum / 64 * 8 / l, r.Strength, 12);
    }

    [Theory]
    [InlineData(20, 0, 5)]
    [InlineData(20, 7, 12)]
    [InlineData(20, 14, 19)]
    [InlineData(30, 4, 24)]    // covers 21 of 30 layers: more than half
    [InlineData(40, 2, 36)]    // 35 of 40 (87.5 %)
    [InlineData(12, 3, 4)]     // two layers
    public void ABrightSquareIsFoundExactly(int l, int first, int last)
    {
        var r = BlockStructureScore.Score(Planted(l, first, last), Names(l));
        Assert.Equal(first, r.First);
        Assert.Equal(last, r.Last);
        Assert.Equal($"layer{first}", r.FirstLayer);
        Assert.Equal($"layer{last}", r.LastLayer);
        Assert.Equal((last - first + 1) / (double)l, r.Coverage, 12);
        Assert.Equal(r.MeanExcess * r.Coverage, r.Strength, 12);
        Assert.True(r.Found);
        // Second formulation: the mean excess recomputed directly from the returned reference.
        double sum = 0;
        int pairs = 0;
        var m = Planted(l, first, last);
        for (int i = first; i <= last; i++)
        {
            for (int j = first; j <= last; j++)
            {
                sum += m[i, j] - r.ReferenceProfile[Math.Abs(i - j)];
                pairs++;
            }
        }
        Assert.Equal(sum / pairs, r.MeanExcess, 12);
    }

    [Fact]
    public void ABrightSquareInNoiseIsFoundExactly()
    {
        int l = 30;
        for (ulong seed = 1; seed <= 5; seed++)
        {
            var r = BlockStructureScore.Score(Noisy(Planted(l, 12, 25), 0.02, seed), Names(l));
            Assert.Equal((12, 25), (r.First, r.Last));
        }
    }

    /// <summary>
    /// The same continuous structure (a square over positions [0.3, 0.7) of a network, on a decaying background
    /// measured in fractions of the network) tapped at L and at 2L layers gives the same strength.
    /// </summary>
    [Theory]
    [InlineData(20)]
    [InlineData(30)]
    public void TwiceTheTapsGiveTheSameStrength(int l)
    {
        static double[,] Sampled(int taps)
        {
            var m = new double[taps, taps];
            for (int i = 0; i < taps; i++)
            {
                for (int j = 0; j < taps; j++)
                {
                    double ti = (i + 0.5) / taps, tj = (j + 0.5) / taps;
                    bool inBlock = ti >= 0.3 && ti < 0.7 && tj >= 0.3 && tj < 0.7;
                    m[i, j] = i == j ? 1 : inBlock ? 0.9 + 0.05 * (1 - Math.Abs(ti - tj)) : 0.15 + 0.8 * Math.Exp(-Math.Abs(ti - tj) / 0.15);
                }
            }
            return m;
        }
        var once = BlockStructureScore.Score(Sampled(l), Names(l));
        var twice = BlockStructureScore.Score(Sampled(2 * l), Names(2 * l));
        Assert.Equal(once.Coverage, twice.Coverage, 12);
        Assert.True(once.Strength > 0.1, $"strength {once.Strength}");
        // Tolerance: 2 % relative; measured 1.4 % at 20 vs 40 taps, 0.6 % at 30 vs 60 (discretisation converges as 1/L).
        Assert.True(Math.Abs(once.Strength - twice.Strength) <= 0.02 * once.Strength,
                    $"strength at {l} taps {once.Strength:F4}, at {2 * l} taps {twice.Strength:F4}");
    }

    [Fact]
    public void UndefinedCellsAreLeftOutOfTheReferenceAndCountAsZeroExcess()
    {
        int l = 20;
        var m = Planted(l, 5, 14);
        for (int j = 0; j < l; j++) { m[9, j] = m[j, 9] = double.NaN; }   // a constant layer inside the square
        m[0, 1] = double.NaN;                                               // one undefined entry: symmetrised to NaN
        var r = BlockStructureScore.Score(m, Names(l));
        Assert.Equal((5, 14), (r.First, r.Last));
        Assert.True(double.IsFinite(r.Strength));
        Assert.All(r.ReferenceProfile, v => Assert.False(double.IsNaN(v)));
        // 10 layers: excess on the 9 x 8 ordered pairs without layer 9, 0 on the 19 cells with it and on the diagonal.
        double sum = 0;
        for (int i = 5; i <= 14; i++)
        {
            for (int j = 5; j <= 14; j++)
            {
                if (i != j && i != 9 && j != 9) { sum += 0.95 - r.ReferenceProfile[Math.Abs(i - j)]; }
            }
        }
        Assert.Equal(sum / 100, r.MeanExcess, 12);
    }

    [Fact]
    public void ResidualBlockUnitsCountTheSquareInResidualBlocks()
    {
        string[] layers = ["stem", "stage1.block1.branch", "stage1.block1", "stage1.block2.branch", "stage1.block2",
                           "stage2.block1.branch", "stage2.block1", "stage2.block2.branch", "stage2.block2"];
        var units = BlockStructureScore.ResidualBlockUnits(layers);
        Assert.Equal([-1, 0, 0, 1, 1, 2, 2, 3, 3], units);
        var r = BlockStructureScore.Score(Planted(layers.Length, 4, 8), layers, units);
        Assert.Equal((4, 8), (r.First, r.Last));
        Assert.Equal(3, r.ResidualBlocks);
        Assert.Equal(0.75, r.ResidualBlockCoverage!.Value, 12);
    }

    [Fact]
    public void BadInputIsRejectedWithTheProblem()
    {
        var e = Assert.Throws<RepscopeException>(() => BlockStructureScore.Score(new double[3, 3], Names(4)));
        Assert.Contains("3 x 3", e.Message);
        Assert.Throws<RepscopeException>(() => BlockStructureScore.Score(new double[2, 2], Names(2)));
        Assert.Throws<RepscopeException>(() => BlockStructureScore.Score(new double[3, 3], Names(3), [0, 1]));
    }
}

/// <summary>The score's bootstrap over batches of examples, on activations with a planted block structure.</summary>
public class BlockStructureScoreBootstrapTests
{
    [Fact]
    public void PlantedBlockStructureHasAPositiveIntervalAndIndependentLayersOneNearZero()
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        var gen = new TorchSharp.torch.Generator(17);
        int n = 400, l = 10;
        var shared = TorchSharp.torch.randn([n, 20], TorchSharp.torch.ScalarType.Float64, generator: gen);
        var blocky = new List<TorchSharp.torch.Tensor>();
        var free = new List<TorchSharp.torch.Tensor>();
        for (int i = 0; i < l; i++)
        {
            var own = TorchSharp.torch.randn([n, 20], TorchSharp.torch.ScalarType.Float64, generator: gen);
            blocky.Add(i >= 4 && i <= 8 ? shared + 0.3 * own : own);
            free.Add(TorchSharp.torch.randn([n, 20], TorchSharp.torch.ScalarType.Float64, generator: gen));
        }
        var names = Enumerable.Range(0, l).Select(i => $"layer{i}").ToArray();
        Repscope.Similarity.CkaBatchState State(List<TorchSharp.torch.Tensor> layers)
        {
            var acc = new Repscope.Similarity.MinibatchCkaAccumulator(names) { KeepBatches = true };
            for (int b = 0; b < n / 50; b++) { acc.Add(layers.Select(t => t.narrow(0, b * 50, 50)).ToList()); }
            return acc.BatchState();
        }
        var withBlock = BlockStructureScore.Bootstrap(State(blocky), replicates: 200, seed: 3);
        Assert.Equal((4, 8), (withBlock.Point.First, withBlock.Point.Last));
        Assert.True(withBlock.Strength.Low > 0.2, $"interval [{withBlock.Strength.Low}, {withBlock.Strength.High}]");
        Assert.True(withBlock.Strength.Low <= withBlock.Point.Strength && withBlock.Point.Strength <= withBlock.Strength.High);
        Assert.Equal(8, withBlock.Strength.N);

        var without = BlockStructureScore.Bootstrap(State(free), replicates: 200, seed: 3);
        Assert.True(without.Strength.High < 0.05, $"interval [{without.Strength.Low}, {without.Strength.High}]");
        var again = BlockStructureScore.Bootstrap(State(blocky), replicates: 200, seed: 3, threads: 1);
        Assert.Equal((withBlock.Strength.Low, withBlock.Strength.High), (again.Strength.Low, again.Strength.High));
    }

    [Fact]
    public void EachReplicateIsTheMapCkaBatchStateBootstrapDrawsScoredAsItIsMade()
    {
        // The bootstrap scores each replicate map as it makes it (not all 2,000 maps held at once): the same draws as
        // CkaBatchState.Bootstrap, so the same maps, scores and interval, bit for bit.
        var rng = new Random(5);
        int l = 7, batches = 9;
        var names = Enumerable.Range(0, l).Select(i => $"stage1.block{i}").ToArray();
        var cross = Enumerable.Range(0, batches).Select(_ => new double[l * l]).ToArray();
        var self = Enumerable.Range(0, batches).Select(_ => new double[l]).ToArray();
        for (int b = 0; b < batches; b++)
        {
            var f = Enumerable.Range(0, l).Select(_ => Enumerable.Range(0, 4).Select(_ => rng.NextDouble() + 0.1).ToArray()).ToArray();
            for (int i = 0; i < l; i++)
            {
                for (int j = 0; j < l; j++) { cross[b][i * l + j] = f[i].Zip(f[j], (x, y) => x * y).Sum() + (Math.Abs(i - j) < 3 ? 0.5 : 0); }
                self[b][i] = cross[b][i * l + i];
            }
        }
        var state = new Repscope.Similarity.CkaBatchState(names, names, false, Repscope.Similarity.KernelKind.Linear, 0.5, cross, self, self);
        var maps = state.Bootstrap(300, 11);
        for (int r = 0; r < maps.Count; r++)
        {
            var again = state.Result(Repscope.Similarity.CkaBatchState.ReplicateBatches(batches, 11, r)).Values;
            Assert.Equal(maps[r].Values.Cast<double>().Select(BitConverter.DoubleToInt64Bits), again.Cast<double>().Select(BitConverter.DoubleToInt64Bits));
        }
        var point = BlockStructureScore.Score(state.Result().Values, names);
        var scores = maps.Select(m => BlockStructureScore.Score(m.Values, names)).ToArray();
        var expected = Repscope.Analysis.Statistics.Intervals.Percentile(point.Strength, scores.Select(x => x.Strength).ToArray(), batches, seed: 11);
        var streamed = BlockStructureScore.Bootstrap(state, null, 300, 11);
        Assert.Equal(BitConverter.DoubleToInt64Bits(expected.Low), BitConverter.DoubleToInt64Bits(streamed.Strength.Low));
        Assert.Equal(BitConverter.DoubleToInt64Bits(expected.High), BitConverter.DoubleToInt64Bits(streamed.Strength.High));
        Assert.True(expected.High > expected.Low, $"a degenerate interval [{expected.Low}, {expected.High}] would compare nothing");
    }
}
