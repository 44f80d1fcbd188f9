using Repscope.Spectral;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Tests.Spectral;

public class FirstComponentTests
{
    /// <summary>n x p data with singular values decaying geometrically from the first, plus an offset.</summary>
    private static Tensor Planted(long n, long p, double decay, double offset, int seed)
    {
        var gen = new torch.Generator((ulong)seed);
        var a = torch.randn([n, Math.Min(n, p)], ScalarType.Float64, generator: gen);
        var (u, _) = torch.linalg.qr(a);
        var b = torch.randn([p, Math.Min(n, p)], ScalarType.Float64, generator: gen);
        var (v, _) = torch.linalg.qr(b);
        long r = Math.Min(n, p);
        var s = torch.pow(decay, torch.arange(r, ScalarType.Float64)) * 10;
        var x = (u * s.unsqueeze(0)).matmul(v.t()) + offset * torch.rand([1, p], ScalarType.Float64, generator: gen);
        return x.to(ScalarType.Float32);
    }

    private sealed record Exact(double Fraction, double Total, Tensor U, Tensor V);

    private static Exact Svd(Tensor x)
    {
        var xc = x.to(ScalarType.Float64);
        xc = xc - xc.mean([0L], keepdim: true);
        var (u, s, vh) = torch.linalg.svd(xc, fullMatrices: false);
        double total = xc.square().sum().item<double>();
        double s1 = s[0].item<double>();
        return new Exact(s1 * s1 / total, total, u[.., 0], vh[0]);
    }

    private static double AbsCos(double[] a, Tensor b)
    {
        var t = torch.tensor(a);
        return Math.Abs(t.dot(b).item<double>()) / (t.norm().item<double>() * b.norm().item<double>());
    }

    private static double AbsCos(float[] a, Tensor b) => AbsCos(a.Select(x => (double)x).ToArray(), b);

    [Theory]
    [InlineData(200, 10, 0)]    // p < rank: the sketch spans all features, exact
    [InlineData(12, 400, 0)]    // n < rank: the sketch spans all examples, exact
    [InlineData(300, 500, 2)]   // p > rank: randomized, converged by power iterations
    public void MatchesExactSvd(int n, int p, int powerIterations)
    {
        using var scope = torch.NewDisposeScope();
        var x = Planted(n, p, 0.8, 5, seed: n + p);
        var exact = Svd(x);
        var pc = FirstComponents.Of(x, new FirstComponentOptions(Rank: 16, PowerIterations: powerIterations), batchSize: 37);
        Assert.Equal(exact.Total, pc.TotalVariance, exact.Total * 1e-5);
        Assert.Equal(exact.Fraction, pc.Fraction, 1e-5);
        Assert.True(AbsCos(pc.ExampleVector, exact.U) > 1 - 1e-6);
        Assert.True(AbsCos(pc.Direction, exact.V) > 1 - 1e-6);
        Assert.Equal(n, pc.Examples);
        Assert.Equal(p, pc.Features);
        // Scores are (X - mean) v.
        var scores = (x.to(ScalarType.Float64) - torch.tensor(pc.Mean).to(ScalarType.Float64))
            .matmul(torch.tensor(pc.Direction).to(ScalarType.Float64));
        var expected = torch.tensor(pc.Scores());
        Assert.True((scores - expected).abs().max().item<double>() < 1e-4 * expected.abs().max().item<double>());
    }

    [Fact]
    public void FlatSpectrumIsALowerBoundCloseToExact()
    {
        using var scope = torch.NewDisposeScope();
        var gen = new torch.Generator(3);
        var x = torch.randn([400, 300], generator: gen);
        var exact = Svd(x);
        var pc = FirstComponents.Of(x, new FirstComponentOptions(Rank: 24, PowerIterations: 3));
        Assert.True(pc.Fraction <= exact.Fraction * (1 + 1e-6));   // Rayleigh-Ritz: never above the truth
        Assert.True(pc.Fraction > exact.Fraction * 0.95, $"{pc.Fraction} vs {exact.Fraction}");
    }

    [Fact]
    public void BatchSizeAndLargeOffsetDoNotChangeTheResult()
    {
        using var scope = torch.NewDisposeScope();
        var x = Planted(250, 80, 0.7, 0, seed: 9);
        var options = new FirstComponentOptions(Rank: 8, PowerIterations: 2, Seed: 4);
        var a = FirstComponents.Of(x, options, batchSize: 250);
        var b = FirstComponents.Of(x, options, batchSize: 7);
        var c = FirstComponents.Of(x + 1000f, options, batchSize: 64);   // centring must survive a big offset
        Assert.Equal(a.Fraction, b.Fraction, 1e-6);
        Assert.Equal(a.Fraction, c.Fraction, 1e-4);
        for (int i = 0; i < a.ExampleVector.Length; i++)
        {
            Assert.Equal(a.ExampleVector[i], b.ExampleVector[i], 1e-5);
        }
        Assert.Equal(Svd(x).Fraction, c.Fraction, 1e-4);
    }

    [Theory]
    [InlineData(256, 1)]
    [InlineData(77, 1000)]
    public void SumsTakenASlabOfColumnsAtATimeChangeNoBit(int batch, float offset)
    {
        // The first pass sums in float64 a slab of columns at a time (no float64 copy of a whole batch); against the same
        // accumulator summing all columns at once, every number of the result must be the same, bit for bit.
        using var scope = torch.NewDisposeScope();
        var x = Planted(600, 2500, 0.8, 0, seed: 21) + offset;   // 2,500 columns: two full slabs of 1,024 and a short one
        var options = new FirstComponentOptions(Rank: 6, PowerIterations: 1, Seed: 3);
        FirstComponent Run(long sumColumns)
        {
            using var acc = new FirstComponentAccumulator("x", options, sumColumns);
            while (!acc.Done)
            {
                for (long s = 0; s < x.shape[0]; s += batch) { acc.Add(x.narrow(0, s, Math.Min(batch, x.shape[0] - s))); }
                acc.EndPass();
            }
            return acc.Result();
        }
        var whole = Run(long.MaxValue);
        var slabs = Run(FirstComponentAccumulator.SumColumns);
        var odd = Run(333);
        Assert.True(whole.TotalVariance > 0);
        foreach (var other in new[] { slabs, odd })
        {
            Assert.Equal(BitConverter.DoubleToInt64Bits(whole.TotalVariance), BitConverter.DoubleToInt64Bits(other.TotalVariance));
            Assert.Equal(BitConverter.DoubleToInt64Bits(whole.Variance), BitConverter.DoubleToInt64Bits(other.Variance));
            Assert.Equal(whole.Mean, other.Mean);
            Assert.Equal(whole.ExampleVector, other.ExampleVector);
            Assert.Equal(whole.Direction, other.Direction);
        }
    }

    private static FirstComponent Streamed(Tensor x, FirstComponentOptions options, int batch, bool spill)
    {
        using var acc = new FirstComponentAccumulator("x", options, FirstComponentAccumulator.SumColumns, spill);
        while (!acc.Done)
        {
            for (long s = 0; s < x.shape[0]; s += batch)
            {
                using var scope = torch.NewDisposeScope();
                acc.Add(x.narrow(0, s, Math.Min(batch, x.shape[0] - s)));
            }
            acc.EndPass();
        }
        return acc.Result();
    }

    private static void AssertSameBits(FirstComponent expected, FirstComponent actual)
    {
        Assert.Equal(BitConverter.DoubleToInt64Bits(expected.TotalVariance), BitConverter.DoubleToInt64Bits(actual.TotalVariance));
        Assert.Equal(BitConverter.DoubleToInt64Bits(expected.Variance), BitConverter.DoubleToInt64Bits(actual.Variance));
        Assert.Equal(expected.Mean, actual.Mean);
        Assert.Equal(expected.ExampleVector.Select(BitConverter.DoubleToInt64Bits), actual.ExampleVector.Select(BitConverter.DoubleToInt64Bits));
        Assert.Equal(expected.Direction, actual.Direction);
    }

    /// <summary>
    /// The algorithm as it was with the n-row state held in libtorch tensors (before the sketch went to a temporary file):
    /// Y's chunks concatenated, Q kept as linalg.qr returned it and narrowed per batch. A second formulation of
    /// <see cref="FirstComponentAccumulator"/> for data of at most 1,024 columns (one slab of sums) and nonzero variance.
    /// </summary>
    private static FirstComponent HeldInMemory(Tensor data, FirstComponentOptions options, int batch)
    {
        using var scope = torch.NewDisposeScope();
        long n = data.shape[0], p = data.shape[1];
        var batches = Enumerable.Range(0, (int)((n + batch - 1) / batch)).Select(i => data.narrow(0, i * batch, Math.Min(batch, n - i * batch))).ToList();
        var shift = batches[0].mean([0L]);
        var sum = torch.zeros(p, ScalarType.Float64);
        var squares = torch.zeros(p, ScalarType.Float64);
        int k = (int)Math.Min(options.Rank, p);
        var omega = torch.randn([p, k], ScalarType.Float32, generator: new torch.Generator((ulong)options.Seed));
        var chunks = new List<Tensor>();
        foreach (var x in batches)
        {
            var d = x - shift;
            sum.add_(d.sum([0L], type: ScalarType.Float64));
            squares.add_(d.pow(2).sum([0L], type: ScalarType.Float64));
            chunks.Add(d.matmul(omega).to(ScalarType.Float64));
        }
        var meanShift = sum.div(n);
        double total = Math.Max((squares - sum * meanShift).sum().item<double>(), 0);
        var mean = shift.add(meanShift.to(ScalarType.Float32));
        var q = torch.linalg.qr(torch.cat(chunks, 0) - meanShift.to(ScalarType.Float32).matmul(omega).to(ScalarType.Float64).unsqueeze(0)).Q;
        Tensor b = torch.zeros(0);
        for (int pass = 1; pass < options.Passes; pass++)
        {
            long row = 0;
            chunks.Clear();
            if (pass % 2 == 1) { b = torch.zeros([q.shape[1], p], ScalarType.Float64); }
            foreach (var x in batches)
            {
                var xc = x - mean;
                if (pass % 2 == 1) { b.add_(q.narrow(0, row, x.shape[0]).to(ScalarType.Float32).t().matmul(xc).to(ScalarType.Float64)); }
                else { chunks.Add(xc.matmul(b.to(ScalarType.Float32).t()).to(ScalarType.Float64)); }
                row += x.shape[0];
            }
            if (pass % 2 == 0) { q = torch.linalg.qr(torch.cat(chunks, 0)).Q; }
        }
        var (ub, s, vh) = torch.linalg.svd(b, fullMatrices: false);
        double sigma1 = s[0].item<double>();
        var u = q.matmul(ub[.., 0]);
        var v = vh[0];
        double vSum = v.sum().item<double>();
        double sign = Math.Abs(vSum) > 1e-6 ? Math.Sign(vSum) : Math.Sign(v[v.abs().argmax()].item<double>());
        if (sign == 0) { sign = 1; }
        double variance = Math.Min(sigma1 * sigma1, total);
        return new FirstComponent("x", n, p, total, variance, variance / total, u.mul(sign).data<double>().ToArray(),
                                  v.mul(sign).to(ScalarType.Float32).data<float>().ToArray(), mean.data<float>().ToArray());
    }

    [Theory]
    [InlineData(600, 300, 16, 1, 128)]    // several batches, the last short
    [InlineData(600, 300, 16, 2, 600)]    // one batch: Q's rows are all of Q
    [InlineData(10, 300, 16, 1, 4)]       // n < rank: Q has n columns
    [InlineData(500, 40, 1, 1, 64)]       // rank 1: Q is one column
    [InlineData(300, 7, 16, 0, 100)]      // p < rank, no power iteration
    public void SketchInATemporaryFileGivesTheSameBitsAsInMemoryAndAsQHeldAsATensor(int n, int p, int rank, int powerIterations, int batch)
    {
        // The n-row state (Y, then Q) goes to an unlinked temporary file and a batch's rows come back per batch, in the
        // layout narrowing the whole Q gives: every number must be what the same bytes in memory give, and what the
        // algorithm with Q held as linalg.qr returned it gave (before the file), bit for bit.
        using var scope = torch.NewDisposeScope();
        var x = Planted(n, p, 0.8, 3, seed: 31);
        var options = new FirstComponentOptions(Rank: rank, PowerIterations: powerIterations, Seed: 4);
        var spilled = Streamed(x, options, batch, spill: true);
        var memory = Streamed(x, options, batch, spill: false);
        var reference = HeldInMemory(x, options, batch);
        Assert.True(spilled.Fraction is > 0 and <= 1);
        AssertSameBits(memory, spilled);
        AssertSameBits(reference, spilled);
    }

    [SkippableFact]
    public void TheSketchFileIsUnlinkedAndGivesBackWhatWasWritten()
    {
        // The temporary file is removed from its folder as soon as it is made (nothing named is left, even if the process
        // dies), and its bytes come back as written, at any offset.
        Skip.IfNot(OperatingSystem.IsLinux(), "an open file can be unlinked on Linux; elsewhere DeleteOnClose removes it at the end");
        string folder = Path.Combine(Path.GetTempPath(), $"repscope-sketch-test-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            using var scope = torch.NewDisposeScope();
            var a = torch.randn([300, 16], ScalarType.Float64, generator: new torch.Generator(9));
            using (var rows = SketchRows.TemporaryFile(folder))
            {
                Assert.Empty(Directory.GetFileSystemEntries(folder));
                rows.Write(0, a);
                rows.Write(a.NumberOfElements * sizeof(double), a.narrow(0, 0, 7).contiguous());
                var back = torch.empty([307, 16], ScalarType.Float64);
                rows.Read(0, back);
                static long[] Bits(Tensor t) => t.contiguous().data<double>().ToArray().Select(BitConverter.DoubleToInt64Bits).ToArray();
                Assert.Equal(Bits(a), Bits(back.narrow(0, 0, 300)));
                Assert.Equal(Bits(a.narrow(0, 0, 7)), Bits(back.narrow(0, 300, 7)));
                var middle = torch.empty([5, 16], ScalarType.Float64);
                rows.Read(123 * 16 * sizeof(double), middle);
                Assert.Equal(Bits(a.narrow(0, 123, 5)), Bits(middle));
                Assert.Throws<IOException>(() => rows.Read(300 * 16 * sizeof(double), torch.empty([8, 16], ScalarType.Float64)));
            }
            Assert.Empty(Directory.GetFileSystemEntries(folder));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void SameSeedSameResult()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.randn([100, 60], generator: new torch.Generator(5));
        var o = new FirstComponentOptions(Rank: 4, PowerIterations: 0, Seed: 11);
        Assert.Equal(FirstComponents.Of(x, o).ExampleVector, FirstComponents.Of(x, o).ExampleVector);
    }

    [Fact]
    public void ConstantRepresentationHasUndefinedFraction()
    {
        using var scope = torch.NewDisposeScope();
        var pc = FirstComponents.Of(torch.ones(50, 20) * 3f);
        Assert.True(double.IsNaN(pc.Fraction));
        Assert.Equal(0, pc.TotalVariance);
    }

    [Fact]
    public void PassWithOtherExamplesIsAnErrorNamingTheLayer()
    {
        using var scope = torch.NewDisposeScope();
        using var acc = new FirstComponentAccumulator("stage2.block1");
        acc.Add(torch.randn(30, 5));
        acc.EndPass();
        acc.Add(torch.randn(20, 5));
        var e = Assert.Throws<RepscopeException>(() => acc.EndPass());
        Assert.Contains("stage2.block1", e.Message);
        var f = Assert.Throws<RepscopeException>(() => acc.Add(torch.randn(20, 6)));
        Assert.Contains("stage2.block1", f.Message);
    }

    [Fact]
    public void OneExampleIsUndefined()
    {
        using var acc = new FirstComponentAccumulator("stem");
        acc.Add(torch.randn(1, 5));
        Assert.Throws<UndefinedResultException>(() => acc.EndPass());
    }

    [Fact]
    public void ManyLayersStreamedTogetherMatchEachAlone()
    {
        using var scope = torch.NewDisposeScope();
        var x = Planted(120, 40, 0.6, 1, seed: 1);
        var y = Planted(120, 70, 0.9, 2, seed: 2);
        var options = new FirstComponentOptions(Rank: 10, PowerIterations: 1);
        int passes = 0;
        var both = FirstComponents.Compute(["x", "y"], onBatch =>
        {
            passes++;
            for (long s = 0; s < 120; s += 50) { onBatch([x.narrow(0, s, Math.Min(50, 120 - s)), y.narrow(0, s, Math.Min(50, 120 - s))]); }
        }, options);
        Assert.Equal(options.Passes, passes);
        Assert.Equal(FirstComponents.Of(x, options).Fraction, both[0].Fraction, 1e-6);
        Assert.Equal(FirstComponents.Of(y, options).Fraction, both[1].Fraction, 1e-6);
        // In the same batches, bit for bit: streamed together, every layer's first-pass state is made before any layer's batch
        // work and every B after all layers' end-of-pass work; alone, each as the layer needs it. Where it lies changes no bit.
        static long[] Bits(FirstComponent c) =>
            c.ExampleVector.Append(c.Fraction).Append(c.TotalVariance).Concat(c.Direction.Select(v => (double)v)).Select(BitConverter.DoubleToInt64Bits).ToArray();
        Assert.Equal(Bits(FirstComponents.Of(x, options, batchSize: 50)), Bits(both[0]));
        Assert.Equal(Bits(FirstComponents.Of(y, options, batchSize: 50)), Bits(both[1]));
    }

    [Fact]
    public void SquaredCosinesOfExampleVectors()
    {
        using var scope = torch.NewDisposeScope();
        var x = Planted(80, 30, 0.5, 0, seed: 3);
        var o = new FirstComponentOptions(Rank: 30, PowerIterations: 0);
        var a = FirstComponents.Of(x, o, name: "a");
        var b = FirstComponents.Of(-2f * x, o, name: "b");            // same component, flipped and scaled
        var c = FirstComponents.Of(Planted(80, 30, 0.5, 0, seed: 4), o, name: "c");
        var m = FirstComponents.SquaredCosines([a, b, c]);
        Assert.Equal(1, m[0, 0], 1e-9);
        Assert.Equal(1, m[0, 1], 1e-6);
        Assert.Equal(m[0, 2], m[2, 0]);
        double dot = a.ExampleVector.Zip(c.ExampleVector, (p, q) => p * q).Sum();
        Assert.Equal(dot * dot, m[0, 2], 1e-9);
        Assert.True(m[0, 2] < 0.5);
    }

    [Fact]
    public void RemovingTheFirstComponentLeavesTheRest()
    {
        using var scope = torch.NewDisposeScope();
        var x = Planted(150, 40, 0.7, 3, seed: 8);
        var pc = FirstComponents.Of(x, new FirstComponentOptions(Rank: 40, PowerIterations: 0));
        var removed = FirstComponents.RemoveFirstComponent(x, torch.tensor(pc.Mean), torch.tensor(pc.Direction));
        var exactBefore = torch.linalg.svdvals((x - x.mean([0L], keepdim: true)).to(ScalarType.Float64));
        var exactAfter = torch.linalg.svdvals((removed - removed.mean([0L], keepdim: true)).to(ScalarType.Float64));
        Assert.Equal(exactBefore[1].item<double>(), exactAfter[0].item<double>(), 1e-3);
        Assert.Equal(pc.TotalVariance - pc.Variance, exactAfter.square().sum().item<double>(), pc.TotalVariance * 1e-5);
    }
}

public class FirstComponentLeakTests
{
    [Fact]
    public void StreamingLeavesNoTensorsBehind()
    {
        using var x = torch.randn([300, 50], generator: new torch.Generator(2));
        FirstComponents.Of(x, batchSize: 30);   // warm-up (lazy native state)
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 3; i++) { FirstComponents.Of(x, new FirstComponentOptions(Rank: 8, PowerIterations: 2), batchSize: 30); }
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        using var probe = torch.zeros(1);                     // the counter does count live tensors
        Assert.Equal(before + 1, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void WithinModelAnalysisLeavesNoTensorsBehind()
    {
        var gen = new torch.Generator(3);
        var stack = Enumerable.Range(0, 4).Select(_ => torch.randn([120, 20], generator: gen)).ToList();
        string[] names = ["a", "b", "c", "d"];
        var pass = Repscope.Tests.Analysis.LayerSimilarityTests.Pass(stack, 25);
        Repscope.Analysis.LayerSimilarity.PrincipalComponents(names, pass);     // warm-up
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        Repscope.Analysis.LayerSimilarity.PrincipalComponents(names, pass);
        Repscope.Analysis.LayerSimilarity.WithinModel(names, [pass, pass]);
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        foreach (var t in stack) { t.Dispose(); }
    }
}
