using System.Text.Json;
using Repscope.Interop;
using Repscope.Similarity;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Tests.Cli;

[Collection("Console")]
public sealed class SimilarityCommandTests : IDisposable
{
    private readonly string _dir = CliRunner.TempDir();

    public void Dispose() => Directory.Delete(_dir, true);

    private string Write(string name, Tensor t)
    {
        string path = Path.Combine(_dir, name);
        Npy.Write(path, NdArray.FromTensor(name, t));
        return path;
    }

    private (string X, string Y, Tensor TX, Tensor TY) Pair(long n = 80)
    {
        var g = new Generator(7);
        var x = torch.randn(n, 3, 2, 2, dtype: ScalarType.Float64, generator: g);
        var y = torch.tanh(x.reshape(n, -1).mm(torch.randn(12, 5, dtype: ScalarType.Float64, generator: g))) + 0.3 * torch.randn(n, 5, dtype: ScalarType.Float64, generator: g);
        return (Write("x.npy", x), Write("y.npy", y), x, y);
    }

    [Theory]
    [InlineData("cca", SimilarityMeasure.Cca)]
    [InlineData("svcca", SimilarityMeasure.Svcca)]
    [InlineData("pwcca", SimilarityMeasure.Pwcca)]
    [InlineData("procrustes", SimilarityMeasure.Procrustes)]
    [InlineData("rsa", SimilarityMeasure.Rsa)]
    [InlineData("cka", SimilarityMeasure.Cka)]
    public void JsonGivesTheLibraryValue(string name, SimilarityMeasure measure)
    {
        var (x, y, tx, ty) = Pair();
        var o = CliRunner.Run("similarity", x, y, "--measure", name, "--json");
        Assert.Equal(0, o.ExitCode);
        var j = JsonDocument.Parse(o.Out).RootElement;
        Assert.Equal(name, j.GetProperty("measure").GetString());
        Assert.Equal(80, j.GetProperty("n").GetInt64());
        double value = j.GetProperty("value").GetDouble();
        Assert.Equal(Measures.Value(measure, tx, ty), value, 12);
        Assert.InRange(value, 0.1, 0.99);
        if (measure == SimilarityMeasure.Procrustes) { Assert.Equal(Math.Sqrt(2 - 2 * value), j.GetProperty("distance").GetDouble(), 12); }
        if (measure == SimilarityMeasure.Cca) { Assert.Equal(12, j.GetProperty("dimensionsX").GetInt32()); }
    }

    [Fact]
    public void CkaKeepsItsOptions()
    {
        var (x, y, _, _) = Pair();
        var a = CliRunner.Run("similarity", x, y, "--kernel", "rbf", "--batch-size", "20", "--json");
        var b = CliRunner.Run("cka", x, y, "--kernel", "rbf", "--batch-size", "20", "--json");
        Assert.Equal(0, a.ExitCode);
        double viaCka = JsonDocument.Parse(b.Out).RootElement.GetProperty("cka").GetDouble();
        var j = JsonDocument.Parse(a.Out).RootElement;
        Assert.Equal(viaCka, j.GetProperty("value").GetDouble(), 14);
        Assert.Equal(4, j.GetProperty("batches").GetInt32());
    }

    [Fact]
    public void WideLayerUnderCcaIsNullWithAOneLineReasonThatPointsToTheSvdReduction()
    {
        var g = new Generator(3);
        string w = Write("w.npy", torch.randn(20, 30, dtype: ScalarType.Float64, generator: g));
        string v = Write("v.npy", torch.randn(20, 4, dtype: ScalarType.Float64, generator: g));
        var o = CliRunner.Run("similarity", w, v, "--measure", "cca", "--json");
        Assert.Equal(2, o.ExitCode);
        var j = JsonDocument.Parse(o.Out).RootElement;
        Assert.Equal(JsonValueKind.Null, j.GetProperty("value").ValueKind);
        Assert.Contains("svcca", j.GetProperty("error").GetString());
        Assert.Contains("w.npy: 30 features >= 20 examples", o.ErrorLine);
        var s = CliRunner.Run("similarity", w, v, "--measure", "svcca");
        Assert.Equal(0, s.ExitCode);
        Assert.StartsWith("SVCCA", s.Out);
    }

    [Fact]
    public void CkaOnlyOptionsAreRejectedForOtherMeasures()
    {
        var (x, y, _, _) = Pair();
        var o = CliRunner.Run("similarity", x, y, "--measure", "procrustes", "--batch-size", "16");
        Assert.Equal(2, o.ExitCode);
        Assert.Contains("--measure cka only", o.ErrorLine);
    }

    [Fact]
    public void HeatmapUnderPwccaIsTheAsymmetricAllPairsMapAndNamesAConstantLayer()
    {
        var g = new Generator(5);
        var l0 = torch.randn(60, 6, dtype: ScalarType.Float64, generator: g);
        var l1 = l0.mm(torch.randn(6, 4, dtype: ScalarType.Float64, generator: g)) + torch.randn(60, 4, dtype: ScalarType.Float64, generator: g);
        var l2 = torch.randn(60, 2, 2, dtype: ScalarType.Float64, generator: g);
        string npz = Path.Combine(_dir, "a.npz");
        Npz.Write(npz, [NdArray.FromTensor("l0", l0), NdArray.FromTensor("l1", l1), NdArray.FromTensor("l2", l2),
                        NdArray.FromTensor("dead", torch.zeros(60, 3, dtype: ScalarType.Float64))]);
        string outDir = Path.Combine(_dir, "out");
        var o = CliRunner.Run("heatmap", npz, "--measure", "pwcca", "--out", outDir);
        Assert.Equal(2, o.ExitCode);
        Assert.Contains("layer 'dead': constant", o.ErrorLine);
        Assert.True(File.Exists(Path.Combine(outDir, "pwcca.png")));
        var m = CkaMatrix.ReadJson(Path.Combine(outDir, "pwcca.json"));
        var layers = new[] { l0, l1, l2 };
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 3; j++) { Assert.Equal(Cca.Pwcca(layers[i], layers[j]), m[i, j], 11); }
            Assert.True(double.IsNaN(m[i, 3]));
        }
        Assert.True(Math.Abs(m[0, 1] - m[1, 0]) > 1e-3);
    }
}
