using System.Text.Json;
using Repscope.Interop;
using Repscope.Tests.Similarity;

namespace Repscope.Tests.Cli;

public sealed class CkaCommandTests : IDisposable
{
    private readonly string _dir = CliRunner.TempDir();
    private static readonly string X = KornblithFixtureTests.Fixture("kornblith_x.npy");
    private static readonly string Y = KornblithFixtureTests.Fixture("kornblith_y.npy");

    public void Dispose() => Directory.Delete(_dir, true);

    private static JsonElement Json(CliRunner.Outcome o)
    {
        Assert.Single(o.Out.Trim().Split('\n')); // one JSON object, nothing else on stdout
        return JsonDocument.Parse(o.Out).RootElement;
    }

    private string Write(string name, float[] data, params long[] shape)
    {
        string path = Path.Combine(_dir, name);
        Npy.Write(path, NdArray.FromFloat32(Path.GetFileNameWithoutExtension(name), data, shape));
        return path;
    }

    private static float[] Random(int count, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)r.NextDouble()).ToArray();
    }

    [Theory]
    [InlineData(new string[0], 0.5576132566117588, "linear", "biased", 1)]
    [InlineData(new[] { "--estimator", "unbiased" }, 0.5134564895055259, "linear", "unbiased", 1)]
    [InlineData(new[] { "--kernel", "rbf", "--rbf-threshold", "0.5" }, 0.6548311822614982, "rbf", "biased", 1)]
    [InlineData(new[] { "--batch-size", "25" }, 0.5132675063590595, "linear", "unbiased", 4)]
    public void PrintsThePublishedValuesAsJson(string[] options, double expected, string kernel, string estimator, int batches)
    {
        var o = CliRunner.Run([.. new[] { "cka", X, Y, "--json" }, .. options]);
        Assert.Equal(0, o.ExitCode);
        var j = Json(o);
        Assert.True(Math.Abs(expected - j.GetProperty("cka").GetDouble()) < 1e-9);
        Assert.Equal(kernel, j.GetProperty("kernel").GetString());
        Assert.Equal(estimator, j.GetProperty("estimator").GetString());
        Assert.Equal(100, j.GetProperty("n").GetInt64());
        Assert.Equal(batches, j.GetProperty("batches").GetInt32());
    }

    [Fact]
    public void PrintsASentenceWithoutJson()
    {
        var o = CliRunner.Run("cka", X, Y);
        Assert.Equal(0, o.ExitCode);
        Assert.StartsWith("CKA = 0.557613 ", o.Out);
    }

    [Fact]
    public void TrailingBatchBelowFourRowsIsDroppedWithAWarning()
    {
        var o = CliRunner.Run("cka", X, Y, "--batch-size", "33", "--json");
        Assert.Equal(0, o.ExitCode);
        Assert.Equal(3, Json(o).GetProperty("batches").GetInt32());
        Assert.Equal(1, Json(o).GetProperty("droppedRows").GetInt32());
        Assert.Contains("repscope: warning: a batch of 1 row was left out", o.Err);
    }

    [Fact]
    public void ConstantInputIsUndefined()
    {
        string c = Write("const.npy", Enumerable.Repeat(2.5f, 100 * 3).ToArray(), 100, 3);
        var o = CliRunner.Run("cka", X, c, "--json");
        Assert.Equal(2, o.ExitCode);
        Assert.Equal(JsonValueKind.Null, Json(o).GetProperty("cka").ValueKind);
        Assert.Contains("const.npy", o.ErrorLine);
        Assert.Contains("constant", o.ErrorLine);
        var plain = CliRunner.Run("cka", c, X, "--batch-size", "20");
        Assert.Equal(2, plain.ExitCode);
        Assert.Contains("const.npy", plain.ErrorLine);
    }

    [Fact]
    public void MismatchedExampleCounts()
    {
        string short99 = Write("y99.npy", Random(99 * 10, 1), 99, 10);
        var o = CliRunner.Run("cka", X, short99);
        Assert.Equal(2, o.ExitCode);
        Assert.Contains("y99.npy has 99 examples", o.ErrorLine);
    }

    [Theory]
    [InlineData(float.NaN, "NaN")]
    [InlineData(float.PositiveInfinity, "infinite")]
    public void NonFiniteValues(float bad, string word)
    {
        var data = Random(100 * 4, 2);
        data[17] = bad;
        string path = Write("bad.npy", data, 100, 4);
        var o = CliRunner.Run("cka", path, X);
        Assert.Equal(2, o.ExitCode);
        Assert.Contains("bad.npy", o.ErrorLine);
        Assert.Contains(word, o.ErrorLine);
    }

    [Fact]
    public void TruncatedAndCorruptFiles()
    {
        string truncated = Path.Combine(_dir, "truncated.npy");
        var bytes = File.ReadAllBytes(X);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length - 100)]);
        var o = CliRunner.Run("cka", truncated, Y);
        Assert.Equal(2, o.ExitCode);
        Assert.Contains("truncated.npy", o.ErrorLine);

        string garbage = Path.Combine(_dir, "garbage.npy");
        File.WriteAllText(garbage, "this is not a numpy file at all");
        o = CliRunner.Run("cka", X, garbage);
        Assert.Equal(2, o.ExitCode);
        Assert.Contains("garbage.npy", o.ErrorLine);

        o = CliRunner.Run("cka", X, Path.Combine(_dir, "missing.npy"));
        Assert.Equal(2, o.ExitCode);
        Assert.Contains("missing.npy", o.ErrorLine);
    }

    [Fact]
    public void UnsupportedDtype()
    {
        // A complex64 array, written by hand: a valid .npy header with a dtype CKA cannot use.
        string header = "{'descr': '<c8', 'fortran_order': False, 'shape': (4, 2), }";
        header = header.PadRight(117) + "\n"; // 10-byte preamble + 118 = 128, a multiple of 64
        var bytes = new List<byte> { 0x93 };
        bytes.AddRange("NUMPY"u8.ToArray());
        bytes.AddRange([1, 0, (byte)header.Length, 0]);
        bytes.AddRange(System.Text.Encoding.ASCII.GetBytes(header));
        bytes.AddRange(new byte[4 * 2 * 8]);
        string path = Path.Combine(_dir, "complex.npy");
        File.WriteAllBytes(path, bytes.ToArray());
        var o = CliRunner.Run("cka", path, path);
        Assert.Equal(2, o.ExitCode);
        Assert.Contains("complex.npy", o.ErrorLine);
    }

    [Fact]
    public void FewerThanFourRowsForTheUnbiasedEstimator()
    {
        string a = Write("a3.npy", Random(3 * 5, 3), 3, 5);
        string b = Write("b3.npy", Random(3 * 5, 4), 3, 5);
        var o = CliRunner.Run("cka", a, b, "--estimator", "unbiased");
        Assert.Equal(2, o.ExitCode);
        Assert.Contains("at least 4", o.ErrorLine);
        o = CliRunner.Run("cka", a, b, "--batch-size", "8");
        Assert.Equal(2, o.ExitCode);
        Assert.Contains("at least", o.ErrorLine);
        Assert.Equal(0, CliRunner.Run("cka", a, b).ExitCode); // the biased estimator is defined for 3 rows
    }

    [Fact]
    public void BadOptions()
    {
        Assert.Contains("at least 4", CliRunner.Run("cka", X, Y, "--batch-size", "2").ErrorLine);
        Assert.Contains("--estimator biased", CliRunner.Run("cka", X, Y, "--batch-size", "20", "--estimator", "biased").ErrorLine);
        Assert.Equal(2, CliRunner.Run("cka", X, Y, "--kernel", "cosine").ExitCode);
        Assert.Contains("threshold", CliRunner.Run("cka", X, Y, "--kernel", "rbf", "--rbf-threshold", "-1").ErrorLine);
    }
}
