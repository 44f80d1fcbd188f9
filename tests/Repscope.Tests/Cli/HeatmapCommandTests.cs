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
        // 70 rows in batches of 35, in file order: the same batches as the library's consecutive minibatches.
        var o = CliRunner.Run("heatmap", a, "--out", outDir, "--batch-size", "35", "--no-shuffle");
        Assert.Equal(0, o.ExitCode); // the map is complete; the undefined cells are marked (issue 15.9)
        Assert.Contains("done", o.Err);
        Assert.True(o.Err.Contains($"repscope: warning: {a}: layer 'dead' is constant"), o.Err);
        Assert.DoesNotContain("repscope: error: ", o.Err);
        var strict = CliRunner.Run("heatmap", a, "--out", outDir, "--batch-size", "35", "--no-shuffle", "--strict");
        Assert.Equal(2, strict.ExitCode);
        Assert.Contains("a.npz: layer 'dead' is constant", strict.ErrorLine);
        var (rows, cols, values) = ReadJson(Path.Combine(outDir, "cka.json"));
        Assert.Equal(["conv1", "block1", "block2", "dead"], rows);
        Assert.Equal(rows, cols);
        var arrays = Npz.Read(a);
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                double expected = Cka.Minibatch(arrays[i].ToTensor(), arrays[j].ToTensor(), 35);
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
        // n = 60: whole data and the biased HSIC by default (the rule shared with `cka`).
        Assert.True(Math.Abs(Cka.Compute(aa[0].ToTensor(), aa[1].ToTensor(), new CkaOptions(KernelKind.Rbf, HsicEstimator.Biased, 0.5)) - rv[0][1]!.Value) < 1e-12);
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
        o = CliRunner.Run("heatmap", WriteNpz("tiny.npz", 3, 7), "--out", outDir, "--estimator", "unbiased");
        Assert.Equal(2, o.ExitCode);
        Assert.Contains("at least 4", o.ErrorLine);
        // Options.
        Assert.Contains("--out", CliRunner.Run("heatmap", a).ErrorLine);
        Assert.Contains("at least 4", CliRunner.Run("heatmap", a, "--out", outDir, "--batch-size", "3").ErrorLine);
        Assert.Contains("--estimator biased", CliRunner.Run("heatmap", a, "--out", outDir, "--batch-size", "16", "--estimator", "biased").ErrorLine);
        Assert.False(Directory.Exists(outDir)); // nothing written by a failed run
        // A .npy where an .npz is needed.
        string npy = Path.Combine(_dir, "x.npy");
        Npy.Write(npy, NdArray.FromFloat32("x", new float[40 * 3], 40, 3));
        Assert.Contains("x.npy: a single .npy array, not an .npz archive", CliRunner.Run("heatmap", npy, "--out", outDir).ErrorLine);
        // An output folder that cannot be one is refused before the work starts (issue 15, hostile 7).
        string file = Path.Combine(_dir, "a-file");
        File.WriteAllText(file, "");
        o = CliRunner.Run("heatmap", a, "--out", Path.Combine(file, "sub"));
        Assert.Equal(2, o.ExitCode);
        Assert.Contains("is a file, not a folder", o.ErrorLine);
        Assert.DoesNotContain("done", o.Err);
    }

    [Fact]
    public void LabelsAndIndicesAreSkippedAndLayersCanBeChosen()
    {
        int n = 40;
        var r = new Random(8);
        float[] Rand(int count) => Enumerable.Range(0, count).Select(_ => (float)r.NextDouble()).ToArray();
        string path = Path.Combine(_dir, "export.npz");
        Npz.Write(path, [NdArray.FromFloat32("stem", Rand(n * 5), n, 5), NdArray.FromFloat32("block1", Rand(n * 4), n, 4),
                         NdArray.FromFloat32("fc", Rand(n * 3), n, 3),
                         NdArray.FromInt64("labels", Enumerable.Range(0, n).Select(i => (long)(i / 10)).ToArray(), n),
                         NdArray.FromInt64("indices", Enumerable.Range(0, n).Select(i => (long)i).ToArray(), n)]);
        string outDir = Path.Combine(_dir, "export");
        var o = CliRunner.Run("heatmap", path, "--out", outDir);
        Assert.True(o.ExitCode == 0, o.Err);
        Assert.Contains("skipped 'labels' (int64, one number per example: labels or indices, not a layer", o.Err);
        Assert.Contains("skipped 'indices'", o.Err);
        Assert.Contains("repscope: warning: " + path + ": array 'labels' is sorted", o.Err);
        Assert.Equal(["stem", "block1", "fc"], ReadJson(Path.Combine(outDir, "cka.json")).Rows);

        o = CliRunner.Run("heatmap", path, "--out", outDir, "--layers", "block*, fc");
        Assert.True(o.ExitCode == 0, o.Err);
        Assert.Equal(["block1", "fc"], ReadJson(Path.Combine(outDir, "cka.json")).Rows);

        o = CliRunner.Run("heatmap", path, "--out", outDir, "--layers", "conv*");
        Assert.Equal(2, o.ExitCode);
        Assert.Contains("export.npz: no array matches conv* (it holds stem, block1, fc, labels, indices)", o.ErrorLine);
    }

    [Fact]
    public void CkaJsonRecordsSettingsInputsAndProvenance()
    {
        string a = WriteNpz("a.npz", 50, 9);
        string b = WriteNpz("b.npz", 50, 10);
        string outDir = Path.Combine(_dir, "prov");
        var o = CliRunner.Run("heatmap", a, b, "--out", outDir, "--batch-size", "16", "--shuffle", "3");
        Assert.True(o.ExitCode == 0, o.Err);
        var j = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "cka.json"))).RootElement;
        var settings = j.GetProperty("settings");
        Assert.Equal("cka", settings.GetProperty("measure").GetString());
        Assert.Equal("linear", settings.GetProperty("kernel").GetString());
        Assert.Equal("unbiased", settings.GetProperty("estimator").GetString());
        Assert.Equal(16, settings.GetProperty("batchSize").GetInt32());
        Assert.Equal(3, settings.GetProperty("batches").GetInt32());      // round(50 / 16) = 3 batches
        Assert.Equal("16-17", settings.GetProperty("batchRows").GetString());
        Assert.Equal(3, settings.GetProperty("shuffleSeed").GetInt64());
        Assert.Equal(50, settings.GetProperty("n").GetInt64());
        Assert.Equal(0, settings.GetProperty("droppedRows").GetInt64());
        var inputs = j.GetProperty("inputs").EnumerateArray().ToArray();
        Assert.Equal(2, inputs.Length);
        Assert.Equal(a, inputs[0].GetProperty("path").GetString());
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(b))), inputs[1].GetProperty("sha256").GetString());
        var provenance = j.GetProperty("provenance");
        Assert.Equal(CommandProvenance.Build.Version, provenance.GetProperty("version").GetString());
        Assert.Contains("heatmap", provenance.GetProperty("commandLine").GetString());
        Assert.Contains("--shuffle 3", provenance.GetProperty("commandLine").GetString());
        Assert.Equal(CkaMatrix.ReadJson(Path.Combine(outDir, "cka.json")).Rows, ["conv1", "block1", "block2"]); // the matrix reader still reads it
    }

    [Fact]
    public void WholeDataOnWideLayersMatchesPairByPairCka()
    {
        // Layers with more features than examples take the Gram-space path (each Gram once per group).
        int n = 30;
        var r = new Random(12);
        float[] Rand(int count) => Enumerable.Range(0, count).Select(_ => (float)(r.NextDouble() - 0.5)).ToArray();
        var layers = new[] { NdArray.FromFloat32("wide1", Rand(n * 40), n, 40), NdArray.FromFloat32("wide2", Rand(n * 50), n, 5, 10),
                             NdArray.FromFloat32("narrow", Rand(n * 4), n, 4), NdArray.FromFloat32("dead", new float[n * 35], n, 35) };
        string path = Path.Combine(_dir, "wide.npz");
        Npz.Write(path, layers);
        string outDir = Path.Combine(_dir, "wide");
        var o = CliRunner.Run("heatmap", path, "--out", outDir);
        Assert.True(o.ExitCode == 0, o.Err);
        var (_, _, v) = ReadJson(Path.Combine(outDir, "cka.json"));
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                double expected = Cka.Linear(layers[i].ToTensor(TorchSharp.torch.ScalarType.Float64), layers[j].ToTensor(TorchSharp.torch.ScalarType.Float64));
                Assert.True(Math.Abs(expected - v[i][j]!.Value) < 1e-5, $"{i},{j}: {expected} vs {v[i][j]}");
            }
            Assert.Null(v[i][3]);
        }
    }

    [Fact]
    public void FiguresAsSvgAndPdfAndWithTheOriginAtTheBottomLeft()
    {
        string a = WriteNpz("a.npz", 40, 13);
        string outDir = Path.Combine(_dir, "fig");
        Assert.Equal(0, CliRunner.Run("heatmap", a, "--out", outDir, "--format", "svg").ExitCode);
        Assert.Contains("<svg", File.ReadAllText(Path.Combine(outDir, "cka.svg")));
        Assert.Contains("conv1", File.ReadAllText(Path.Combine(outDir, "cka.svg")));
        Assert.Equal(0, CliRunner.Run("heatmap", a, "--out", outDir, "--format", "pdf").ExitCode);
        Assert.Equal("%PDF", System.Text.Encoding.ASCII.GetString(File.ReadAllBytes(Path.Combine(outDir, "cka.pdf"))[..4]));

        // Row 0 = 1, everything else 0: its cell is yellow (viridis 1) at the top left, or at the bottom left with the option.
        var m = new CkaMatrix(["r0", "r1"], ["c0", "c1"], new double[,] { { 1, 0 }, { 0, 0 } });
        foreach (bool bottom in new[] { false, true })
        {
            var options = new Repscope.Reporting.HeatmapOptions { OriginBottomLeft = bottom, Annotate = false };
            var plot = Repscope.Reporting.Heatmap.Build(m, "t", options, out int w, out int h);
            using var bitmap = SKBitmap.Decode(plot.GetImageBytes(w, h, ScottPlot.ImageFormat.Png));
            SKColor At(double x, double y)
            {
                var p = plot.GetPixel(new ScottPlot.Coordinates(x, y));
                return bitmap.GetPixel((int)p.X, (int)p.Y);
            }
            SKColor row0 = At(0, bottom ? 0 : 1), other = At(0, bottom ? 1 : 0);
            Assert.True(row0.Red > 200 && row0.Green > 200 && row0.Blue < 100, $"bottom={bottom}: row 0 drawn {row0}");   // yellow
            Assert.True(other.Red < 100 && other.Blue > 60, $"bottom={bottom}: row 1 drawn {other}");                     // purple
        }
    }
}
