using System.Text.Json;
using Repscope.Interop;
using Repscope.Similarity;
using SkiaSharp;
using TorchSharp;

namespace Repscope.Tests.Cli;

public sealed class HeatmapCommandTests : IDisposable
{
    private readonly string _dir = CliRunner.TempDir();

    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>Three related layers of shapes (n, 4, 3), (n, 6), (n, 2, 2, 2) and, if asked, a constant one.</summary>
    private string WriteNpz(string name, int n, int seed, bool withConstant = false, int? badRowsAt = null)
    {
        var r = new Random(seed);
        float[] Rand(int count) => Enumerable.Range(0, count).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
        var base12 = Rand(n * 12);
        var arrays = new List<NdArray>
        {
            NdArray.FromFloat32("conv1", base12, n, 4, 3),
            NdArray.FromFloat32("block1", base12.Select((v, i) => i % 12 < 6 ? v : 0).Where((v, i) => i % 12 < 6).Zip(Rand(n * 6), (a, b) => a + 0.5f * b).ToArray(), n, 6),
            NdArray.FromFloat32("block2", Rand(n * 8), n, 2, 2, 2),
        };
        if (withConstant) { arrays.Add(NdArray.FromFloat32("dead", new float[n * 5], n, 5)); }
        if (badRowsAt is int k) { arrays.Insert(k, NdArray.FromFloat32("short", Rand((n - 1) * 3), n - 1, 3)); }
        string path = Path.Combine(_dir, name);
        Npz.Write(path, arrays);
        return path;
    }

    private static (string[] Rows, string[] Columns, double?[][] Values) ReadJson(string path)
    {
        var j = JsonDocument.Parse(File.ReadAllText(path)).RootElement;
        string[] Names(string p) => j.GetProperty(p).EnumerateArray().Select(e => e.GetString()!).ToArray();
        var values = j.GetProperty("values").EnumerateArray()
            .Select(row => row.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Null ? (double?)null : v.GetDouble()).ToArray()).ToArray();
        return (Names("rows"), Names("columns"), values);
    }

    [Fact]
    public void WithinOneModelMatchesTheLibraryPairByPair()
    {
        string a = WriteNpz("a.npz", 70, 1, withConstant: true);
        string outDir = Path.Combine(_dir, "out");
        var o = CliRunner.Run("heatmap", a, "--out", outDir, "--batch-size", "32");
        Assert.Equal(2, o.ExitCode); // a constant layer is bad input, but the map is written
        Assert.Contains("done", o.Err);
        Assert.Contains("a.npz: layer 'dead' is constant", o.Err);
        Assert.Contains("repscope: error: ", o.Err);
        var (rows, cols, values) = ReadJson(Path.Combine(outDir, "cka.json"));
        Assert.Equal(["conv1", "block1", "block2", "dead"], rows);
        Assert.Equal(rows, cols);
        var arrays = Npz.Read(a);
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                double expected = Cka.Minibatch(arrays[i].ToTensor(), arrays[j].ToTensor(), 32);
                Assert.True(Math.Abs(expected - values[i][j]!.Value) < 1e-12);
            }
            Assert.Null(values[i][3]); // the constant layer: undefined, written as null
        }
        Assert.True(values[0][1] > 0.2); // related layers
        using var png = SKBitmap.Decode(Path.Combine(outDir, "cka.png"));
        Assert.True(png.Width > 400 && png.Height > 400);
    }

    [Fact]
    public void AcrossTwoModelsAndWholeData()
    {
        string a = WriteNpz("a.npz", 60, 2);
        string b = WriteNpz("b.npz", 60, 3);
        string outDir = Path.Combine(_dir, "ab");
        var o = CliRunner.Run("heatmap", a, b, "--out", outDir, "--estimator", "biased");
        Assert.Equal(0, o.ExitCode);
        var (rows, cols, values) = ReadJson(Path.Combine(outDir, "cka.json"));
        Assert.Equal(3, rows.Length);
        Assert.Equal(3, cols.Length);
        var aa = Npz.Read(a);
        var bb = Npz.Read(b);
        Assert.True(Math.Abs(Cka.Linear(aa[1].ToTensor(), bb[2].ToTensor()) - values[1][2]!.Value) < 1e-12);

        var rbf = CliRunner.Run("heatmap", a, "--out", outDir, "--kernel", "rbf");
        Assert.Equal(0, rbf.ExitCode);
        var (_, _, rv) = ReadJson(Path.Combine(outDir, "cka.json"));
        Assert.True(Math.Abs(Cka.Minibatch(aa[0].ToTensor(), aa[1].ToTensor(), 256, KernelKind.Rbf) - rv[0][1]!.Value) < 1e-12);
    }

    [Fact]
    public void BadInputs()
    {
        string a = WriteNpz("a.npz", 40, 4);
        string outDir = Path.Combine(_dir, "bad");
        // An array with a different number of examples inside one file.
        var o = CliRunner.Run("heatmap", WriteNpz("rows.npz", 40, 5, badRowsAt: 1), "--out", outDir);
        Assert.True(o.ExitCode == 2, o.Err);
        Assert.Contains("rows.npz: array 'short' has 39 rows", o.ErrorLine);
        // Two files with different numbers of examples.
        o = CliRunner.Run("heatmap", a, WriteNpz("b41.npz", 41, 6), "--out", outDir);
        Assert.Contains("b41.npz has 41 examples", o.ErrorLine);
        // Corrupt archive.
        string corrupt = Path.Combine(_dir, "corrupt.npz");
        File.WriteAllBytes(corrupt, File.ReadAllBytes(a)[..200]);
        o = CliRunner.Run("heatmap", corrupt, "--out", outDir);
        Assert.Equal(2, o.ExitCode);
        Assert.Contains("corrupt.npz", o.ErrorLine);
        // NaN inside a layer.
        string nan = Path.Combine(_dir, "nan.npz");
        var values = Enumerable.Range(0, 40 * 3).Select(i => i == 7 ? float.NaN : i * 0.1f).ToArray();
        Npz.Write(nan, [NdArray.FromFloat32("ok", values.Select(v => float.IsNaN(v) ? 1f : v).ToArray(), 40, 3), NdArray.FromFloat32("broken", values, 40, 3)]);
        o = CliRunner.Run("heatmap", nan, "--out", outDir);
        Assert.True(o.ErrorLine.Contains("nan.npz: array 'broken': contains NaN"), o.ErrorLine);
        // Fewer than 4 rows for the unbiased estimator.
        o = CliRunner.Run("heatmap", WriteNpz("tiny.npz", 3, 7), "--out", outDir);
        Assert.Equal(2, o.ExitCode);
        Assert.Contains("at least 4", o.ErrorLine);
        // Options.
        Assert.Contains("--out", CliRunner.Run("heatmap", a).ErrorLine);
        Assert.Contains("at least 4", CliRunner.Run("heatmap", a, "--out", outDir, "--batch-size", "3").ErrorLine);
        Assert.Contains("--estimator biased", CliRunner.Run("heatmap", a, "--out", outDir, "--batch-size", "16", "--estimator", "biased").ErrorLine);
        Assert.False(Directory.Exists(outDir)); // nothing written by a failed run
    }
}
