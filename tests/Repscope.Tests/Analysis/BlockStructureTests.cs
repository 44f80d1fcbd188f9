using Repscope.Analysis;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Tests.Analysis;

public class BlockStructureTests
{
    // Linear CKA in feature space (Kornblith 2019, Eq. 5): ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F).
    private static double LinearCka(Tensor x, Tensor y)
    {
        var xc = x - x.mean([0L], keepdim: true);
        var yc = y - y.mean([0L], keepdim: true);
        double num = yc.t().matmul(xc).square().sum().item<double>();
        return num / (xc.t().matmul(xc).norm().item<double>() * yc.t().matmul(yc).norm().item<double>());
    }

    private static double[,] CkaMatrix(IReadOnlyList<Tensor> stack)
    {
        int l = stack.Count;
        var m = new double[l, l];
        for (int i = 0; i < l; i++)
        {
            for (int j = 0; j < l; j++) { m[i, j] = LinearCka(stack[i], stack[j]); }
        }
        return m;
    }

    private static string[] Names(int l) => Enumerable.Range(0, l).Select(i => $"layer{i}").ToArray();

    /// <summary>Independent random layers, except layers first..last: one shared representation plus small noise.</summary>
    private static List<Tensor> Stack(int layers, int first, int last, int seed)
    {
        var gen = new torch.Generator((ulong)seed);
        var shared = torch.randn([200, 30], ScalarType.Float64, generator: gen);
        var stack = new List<Tensor>();
        for (int i = 0; i < layers; i++)
        {
            stack.Add(i >= first && i <= last
                ? shared + 0.1 * torch.randn([200, 30], ScalarType.Float64, generator: gen)
                : torch.randn([200, 30], ScalarType.Float64, generator: gen));
        }
        return stack;
    }

    [Theory]
    [InlineData(14, 4, 9, 1)]
    [InlineData(20, 12, 19, 2)]   // block at the end, as in deep / wide networks
    [InlineData(8, 0, 3, 3)]      // block at the start, exactly the minimum length
    public void PlantedBlockIsFoundExactly(int layers, int first, int last, int seed)
    {
        using var scope = torch.NewDisposeScope();
        var cka = CkaMatrix(Stack(layers, first, last, seed));
        var pc1 = Enumerable.Range(0, layers).Select(i => i / 100.0).ToArray();
        var r = BlockStructure.Detect(cka, Names(layers), pc1);
        var b = Assert.Single(r.Spans);
        Assert.Equal(first, b.First);
        Assert.Equal(last, b.Last);
        Assert.Equal($"layer{first}", b.FirstLayer);
        Assert.Equal($"layer{last}", b.LastLayer);
        Assert.InRange(b.MinCka, 0.9, 1);
        Assert.InRange(b.MeanCka, b.MinCka, 1);
        Assert.Equal((first + last) / 2.0 / 100, b.MeanPc1Fraction, 1e-12);
        Assert.Equal((double)(last - first + 1) / layers, r.Coverage, 1e-12);
        Assert.InRange(r.Level, b.MinCka, 1);       // a shorter run inside the block may be more coherent
    }

    [Fact]
    public void NoBlockInIndependentLayers()
    {
        using var scope = torch.NewDisposeScope();
        var cka = CkaMatrix(Stack(12, -1, -1, 5));
        var r = BlockStructure.Detect(cka, Names(12));
        Assert.False(r.Found);
        Assert.Equal(0, r.Coverage);
        Assert.True(r.Level < 0.9, $"level {r.Level}");
    }

    [Fact]
    public void IdenticalLayersAreOneBlock()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.randn([100, 12], ScalarType.Float64, generator: new torch.Generator(7));
        var cka = CkaMatrix(Enumerable.Repeat(x, 9).ToList());
        var r = BlockStructure.Detect(cka, Names(9));
        var b = Assert.Single(r.Spans);
        Assert.Equal((0, 8), (b.First, b.Last));
        Assert.Equal(1, r.Coverage);
        Assert.Equal(1, b.MeanCka, 1e-12);
        Assert.True(double.IsNaN(b.MeanPc1Fraction));
    }

    private static double[,] Matrix(int l, double background, params (int First, int Last, double Value)[] squares)
    {
        var m = new double[l, l];
        for (int i = 0; i < l; i++) { for (int j = 0; j < l; j++) { m[i, j] = i == j ? 1 : background; } }
        foreach (var (first, last, value) in squares)
        {
            for (int i = first; i <= last; i++) { for (int j = first; j <= last; j++) { if (i != j) { m[i, j] = value; } } }
        }
        return m;
    }

    [Fact]
    public void OverlappingRunsAreSplitGreedily()
    {
        // Runs 0..5 and 4..9 are both coherent, 0..9 is not: the earliest longest run wins, the rest
        // of the second run (6..9) is a block of its own.
        var m = Matrix(10, 0.5, (0, 5, 0.95), (4, 9, 0.93));
        var r = BlockStructure.Detect(m, Names(10));
        Assert.Equal(new[] { (0, 5), (6, 9) }, r.Spans.Select(b => (b.First, b.Last)).ToArray());
        Assert.Equal(0.93, r.Spans[1].MeanCka, 12);
    }

    [Fact]
    public void LongestRunIsTakenFirstAndShortRunsAreNotBlocks()
    {
        var m = Matrix(16, 0.2, (0, 2, 0.99), (4, 8, 0.95), (9, 15, 0.92));
        var r = BlockStructure.Detect(m, Names(16));
        Assert.Equal(new[] { (4, 8), (9, 15) }, r.Spans.Select(b => (b.First, b.Last)).ToArray());
        Assert.Equal(12.0 / 16, r.Coverage, 12);
        Assert.Equal(0.99, BlockStructure.Detect(m, Names(16), options: new BlockStructureOptions(0.9, 3)).Level, 12);
        Assert.Equal(0.95, r.Level, 12);
        Assert.Equal(3, BlockStructure.Detect(m, Names(16), options: new BlockStructureOptions(0.9, 3)).Spans.Count);
        Assert.Empty(BlockStructure.Detect(m, Names(16), options: new BlockStructureOptions(0.96, 4)).Spans);
    }

    [Fact]
    public void UndefinedSimilarityBreaksABlock()
    {
        var m = Matrix(10, 0.1, (0, 9, 0.97));
        m[2, 6] = double.NaN;
        var r = BlockStructure.Detect(m, Names(10));
        Assert.Equal(new[] { (3, 9) }, r.Spans.Select(b => (b.First, b.Last)).ToArray());
    }

    [Fact]
    public void BadInputIsAnError()
    {
        Assert.Throws<RepscopeException>(() => BlockStructure.Detect(new double[3, 3], Names(4)));
        Assert.Throws<RepscopeException>(() => BlockStructure.Detect(new double[4, 4], Names(4), new double[3]));
        Assert.Throws<RepscopeException>(() => BlockStructure.Detect(new double[4, 4], Names(4), options: new BlockStructureOptions(1.5, 4)));
        Assert.Throws<RepscopeException>(() => BlockStructure.Detect(new double[4, 4], Names(4), options: new BlockStructureOptions(0.9, 1)));
    }

    [Fact]
    public void FewerLayersThanTheMinimumHaveNoLevel()
    {
        var r = BlockStructure.Detect(Matrix(3, 1), Names(3));
        Assert.False(r.Found);
        Assert.True(double.IsNaN(r.Level));
    }

    [Fact]
    public void SpansAreWrittenAsSpansAndFilesThatCallThemBlocksStillRead()
    {
        var r = BlockStructure.Detect(Matrix(8, 0.5, (2, 6, 0.95)), Names(8));
        var span = Assert.Single(r.Spans);
        string json = System.Text.Json.JsonSerializer.Serialize(r, JsonDefaults.Options);
        using (var doc = System.Text.Json.JsonDocument.Parse(json))
        {
            Assert.Equal(1, doc.RootElement.GetProperty("spans").GetArrayLength());
            Assert.False(doc.RootElement.TryGetProperty("blocks", out _));
        }
        Assert.Equal(span, Assert.Single(System.Text.Json.JsonSerializer.Deserialize<BlockStructureResult>(json, JsonDefaults.Options)!.Spans));
        // layers.json / pc.json / probe.json written before the rename: "blocks".
        string old = json.Replace("\"spans\"", "\"blocks\"", StringComparison.Ordinal);
        Assert.Contains("\"blocks\"", old);
        var read = System.Text.Json.JsonSerializer.Deserialize<BlockStructureResult>(old, JsonDefaults.Options)!;
        Assert.Equal(span, Assert.Single(read.Spans));
        Assert.Equal((r.Coverage, r.Level), (read.Coverage, read.Level));
    }
}
