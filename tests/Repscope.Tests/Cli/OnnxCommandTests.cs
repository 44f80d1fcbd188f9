using System.Text.Json;
using Repscope.Interop;
using Repscope.Tests.Models;

namespace Repscope.Tests.Cli;

/// <summary>taps, export, layers and compare on ONNX models: values against the PyTorch and numpy references, bad input as one line.</summary>
[Collection("Console")]
public sealed class OnnxCommandTests : IDisposable
{
    private readonly string _dir = CliRunner.TempDir();
    private static readonly string Cnn = OnnxFixtures.ModelPath("cnn");
    private static readonly string Images = OnnxFixtures.File("cnn_input.npy");

    public void Dispose() => Directory.Delete(_dir, true);

    private static double[,] Read(JsonElement rows)
    {
        var r = rows.EnumerateArray().Select(x => x.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
        var m = new double[r.Length, r[0].Length];
        for (int i = 0; i < r.Length; i++) { for (int j = 0; j < r[0].Length; j++) { m[i, j] = r[i][j]; } }
        return m;
    }

    private static void AssertClose(double[,] want, double[,] got, double tolerance)
    {
        Assert.Equal(want.GetLength(0), got.GetLength(0));
        Assert.Equal(want.GetLength(1), got.GetLength(1));
        for (int i = 0; i < want.GetLength(0); i++)
        {
            for (int j = 0; j < want.GetLength(1); j++)
            {
                Assert.True(Math.Abs(want[i, j] - got[i, j]) <= tolerance, $"[{i},{j}]: numpy {want[i, j]:F6}, repscope {got[i, j]:F6}");
            }
        }
    }

    [Theory]
    [InlineData("cnn")]
    [InlineData("cnn_b")]
    [InlineData("transformer")]
    [InlineData("tokens_first")]   // examples in the second dimension
    public void LayersCkaMapMatchesTheNumpyReference(string key)
    {
        int n = OnnxFixtures.Entry(key).GetProperty("cka").GetArrayLength();
        var taps = OnnxFixtures.Taps(key).Take(n);
        var args = new List<string> { "layers", OnnxFixtures.ModelPath(key), "--taps", string.Join(",", taps), "--batch-size", "8", "--out", _dir };
        foreach (var spec in OnnxFixtures.InputSpecs(key)) { args.AddRange(["--input", spec]); }
        var o = CliRunner.Run([.. args]);
        Assert.True(o.ExitCode == 0, o.Err);
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "layers.json"))).RootElement;
        Assert.Equal(taps, json.GetProperty("layers").EnumerateArray().Select(l => l.GetString()));
        Assert.Equal(3, json.GetProperty("batches").GetInt32());
        AssertClose(OnnxFixtures.Matrix(key, "cka"), Read(json.GetProperty("cka")), 1e-4);
        Assert.True(File.Exists(Path.Combine(_dir, "layers.png")) && File.Exists(Path.Combine(_dir, "layers_pc1.png")));
    }

    [Fact]
    public void CompareCkaMapOfTwoModelsMatchesTheNumpyReference()
    {
        var taps = string.Join(",", OnnxFixtures.Taps("cnn").Take(5));
        var o = CliRunner.Run("compare", Cnn, OnnxFixtures.ModelPath("cnn_b"), "--input", Images, "--taps", taps, "--batch-size", "8", "--out", _dir);
        Assert.True(o.ExitCode == 0, o.Err);
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "compare_cnn_vs_cnn_b.json"))).RootElement;
        AssertClose(OnnxFixtures.Matrix("cnn", "ckaAgainstCnnB"), Read(json.GetProperty("cka")), 1e-4);
        Assert.True(File.Exists(Path.Combine(_dir, "compare_cnn_vs_cnn_b.png")));
    }

    [Fact]
    public void FixedBatchOneModelGivesTheSameMapAsTheDynamicOne()
    {
        var a = CliRunner.Run("layers", OnnxFixtures.ModelPath("cnn_batch1"), "--input", Images, "--batch-size", "8", "--out", Path.Combine(_dir, "a"));
        var b = CliRunner.Run("layers", Cnn, "--input", Images, "--batch-size", "8", "--out", Path.Combine(_dir, "b"));
        Assert.True(a.ExitCode == 0 && b.ExitCode == 0, a.Err + b.Err);
        var (ja, jb) = (Json(_dir, "a", "layers.json"), Json(_dir, "b", "layers.json"));
        Assert.Equal(OnnxFixtures.DefaultTaps("cnn"), ja.GetProperty("layers").EnumerateArray().Select(l => l.GetString()));
        AssertClose(Read(jb.GetProperty("cka")), Read(ja.GetProperty("cka")), 1e-6);
    }

    private static JsonElement Json(params string[] path) => JsonDocument.Parse(File.ReadAllText(Path.Combine(path))).RootElement;

    /// <summary>`pc` takes an ONNX model as `layers` does; its CKA with PC1 equals the layers map of the same taps and batches.</summary>
    [Fact]
    public void PcOnAnOnnxModelGivesTheLayersMapAndItsFirstComponents()
    {
        var pc = CliRunner.Run("pc", Cnn, "--input", Images, "--batch-size", "8", "--out", Path.Combine(_dir, "pc"));
        var layers = CliRunner.Run("layers", Cnn, "--input", Images, "--batch-size", "8", "--out", Path.Combine(_dir, "layers"));
        Assert.True(pc.ExitCode == 0 && layers.ExitCode == 0, pc.Err + layers.Err);
        var (jp, jl) = (Json(_dir, "pc", "pc.json"), Json(_dir, "layers", "layers.json"));
        Assert.Equal(OnnxFixtures.DefaultTaps("cnn"), jp.GetProperty("layers").EnumerateArray().Select(l => l.GetString()));
        AssertClose(Read(jl.GetProperty("cka")), Read(jp.GetProperty("cka")), 1e-12);
        Assert.All(jp.GetProperty("pc1Fraction").EnumerateArray(), f => Assert.InRange(f.GetDouble(), 1.0 / 64, 1));  // at least 1/rank of the variance
        Assert.True(File.Exists(Path.Combine(_dir, "pc", "pc_cka_without_pc1.png")));
        var refused = CliRunner.Run("pc", Cnn, "--input", Images);
        Assert.Equal("repscope: error: an ONNX model needs --out DIR for pc.json and the PNGs", refused.ErrorLine);
    }

    [Fact]
    public void ExportWritesOneMemberPerTapAndTheNameMappingBeside()
    {
        string npz = Path.Combine(_dir, "acts.npz");
        var taps = OnnxFixtures.Taps("cnn_names");
        var o = CliRunner.Run("export", OnnxFixtures.ModelPath("cnn_names"), "--input", Images, "--taps", string.Join(",", taps), "--out", npz, "--batch-size", "5");
        Assert.True(o.ExitCode == 0, o.Err);
        var mapping = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "acts.json"))).RootElement.GetProperty("members")
            .EnumerateObject().ToDictionary(p => p.Value.GetString()!, p => p.Name);
        var arrays = Npz.Read(npz).ToDictionary(a => a.Name);
        var expected = OnnxFixtures.Expected("cnn_names");
        Assert.Equal(taps.Count, arrays.Count);
        Assert.Equal("block_1_out.relu", mapping["block:1/out.relu"]);
        for (int i = 0; i < taps.Count; i++)
        {
            var got = arrays[mapping[taps[i]]];
            Assert.Equal(expected[i].Shape, got.Shape);
            var (w, g) = (expected[i].ToFloat32(), got.ToFloat32());
            Assert.True(w.Zip(g, (x, y) => Math.Abs(x - y)).Max() < 1e-4, taps[i]);
        }
    }

    [Fact]
    public void TapsJsonListsEveryTensorAndMarksTheDefaultSet()
    {
        var o = CliRunner.Run("taps", OnnxFixtures.ModelPath("transformer"), "--json");
        Assert.True(o.ExitCode == 0, o.Err);
        var j = JsonDocument.Parse(o.Out).RootElement;
        var marked = j.GetProperty("tensors").EnumerateArray().Where(t => t.GetProperty("default").GetBoolean()).Select(t => t.GetProperty("name").GetString());
        Assert.Equal(OnnxFixtures.DefaultTaps("transformer"), marked);
        Assert.Equal(17, j.GetProperty("opset").GetInt32());
        Assert.Equal(["input_ids", "attention_mask"], j.GetProperty("inputs").EnumerateArray().Select(i => i.GetProperty("name").GetString()));
    }

    [Theory]
    [InlineData("unknown-tap", "no tensor '/block9/relu2/Relu_output_0' in the graph (closest:")]
    [InlineData("not-onnx", "not an ONNX model")]
    [InlineData("unsupported", "cannot run operator 'NotARealOp'")]
    [InlineData("wrong-shape", "input 'images' expects shape [batch, 1, 8, 8]")]
    [InlineData("wrong-name", "no input 'pixels'")]
    [InlineData("no-input", "needs --input")]
    public void BadInputIsOneLine(string what, string message)
    {
        string wrong = Path.Combine(_dir, "wrong.npy");
        Npy.Write(wrong, NdArray.FromFloat32("wrong", new float[2 * 3 * 8 * 8], 2, 3, 8, 8));
        string text = Path.Combine(_dir, "model.onnx");
        File.WriteAllText(text, "not a model");
        string[] args = what switch
        {
            "unknown-tap" => ["export", Cnn, "--input", Images, "--taps", "/block9/relu2/Relu_output_0", "--out", Path.Combine(_dir, "a.npz")],
            "not-onnx" => ["taps", text],
            "unsupported" => ["layers", OnnxFixtures.ModelPath("unsupported_op"), "--input", Images, "--out", _dir],
            "wrong-shape" => ["layers", Cnn, "--input", wrong, "--out", _dir],
            "wrong-name" => ["layers", Cnn, "--input", $"pixels={Images}", "--out", _dir],
            _ => ["layers", Cnn, "--out", _dir],
        };
        var o = CliRunner.Run(args);
        Assert.Equal(2, o.ExitCode);
        Assert.Contains(message, o.ErrorLine);
    }
}
