using System.Diagnostics;
using System.Text.Json;
using Repscope.Interop;

namespace Repscope.Tests.Analysis.Errors;

/// <summary>The classdiff and errors commands as a user runs them (a separate process): output, exit codes, one-line errors.</summary>
public class CommandLineTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"repscope-cli-{Guid.NewGuid():N}");

    public CommandLineTests() => Directory.CreateDirectory(_dir);

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private (int Code, string Out, string Err) Repscope(params string[] args)
    {
        var r = Cli.CliRunner.RunProcess(_dir, null, args);
        return (r.ExitCode, r.Out, r.Err);
    }

    private string Matrix(string name, double[,] m)
    {
        string path = Path.Combine(_dir, name);
        Npy.Write(path, NdArray.FromFloat64(name, m.Cast<double>().ToArray(), m.GetLength(0), m.GetLength(1)));
        return path;
    }

    [Fact]
    public void ClassDiffJsonHasTheIssuesShapeAndScipyValues()
    {
        double nan = double.NaN;
        // the per-class accuracies of ErrorsTests' runs, plus a class without test examples
        Matrix("a.npy", new[,] { { 0.9, 0.8, 0.7, nan }, { 0.9, 0.7, 0.7, nan }, { 0.8, 0.8, 0.6, nan }, { 0.9, 0.8, 0.7, nan } });
        Matrix("b.npy", new[,] { { 0.5, 0.8, 0.7, nan }, { 0.4, 0.7, 0.8, nan }, { 0.5, 0.8, 0.6, nan }, { 0.4, 0.8, 0.7, nan } });
        var (code, stdout, stderr) = Repscope("classdiff", "a.npy", "b.npy", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var classes = doc.RootElement.GetProperty("classes").EnumerateArray().ToArray();
        Assert.Equal(4, classes.Length);
        foreach (string key in new[] { "class", "mean_a", "mean_b", "difference", "t", "p", "p_adjusted", "significant" })
        {
            Assert.True(classes[0].TryGetProperty(key, out _), key);
        }
        Assert.Equal(0, classes[0].GetProperty("class").GetInt32());
        // scipy.stats.ttest_ind and statsmodels multipletests(method="holm-sidak") over classes 0..2
        Statistics.StatsReferenceTests.Close(11.129112402035615, classes[0].GetProperty("t").GetDouble(), "t");
        Statistics.StatsReferenceTests.Close(3.137462348859723e-05, classes[0].GetProperty("p").GetDouble(), "p");
        Statistics.StatsReferenceTests.Close(9.412091739567868e-05, classes[0].GetProperty("p_adjusted").GetDouble(), "p adjusted");
        Statistics.StatsReferenceTests.Close(0.8557671258352773, classes[2].GetProperty("p_adjusted").GetDouble(), "p adjusted 2");
        Assert.True(classes[0].GetProperty("significant").GetBoolean());
        Assert.False(classes[2].GetProperty("significant").GetBoolean());
        Assert.Equal(JsonValueKind.Null, classes[3].GetProperty("p").ValueKind);
        Assert.False(classes[3].GetProperty("significant").GetBoolean());
        Assert.Equal(3, doc.RootElement.GetProperty("tested").GetInt32());

        var welch = Repscope("classdiff", "a.npy", "b.npy", "--welch", "--alpha", "0.01");
        Assert.Equal(0, welch.Code);
        Assert.Contains("Welch t-test per class over 4 vs 4 runs; Holm-Sidak over 3 classes at alpha 0.01: 1 significant", welch.Out);
    }

    [Fact]
    public void BadInputExitsWithCodeTwoAndOneLine()
    {
        Matrix("one.npy", new[,] { { 0.9, 0.8 } });
        Matrix("two.npy", new[,] { { 0.9, 0.8 }, { 0.7, 0.6 } });
        var single = Repscope("classdiff", "one.npy", "two.npy");
        Assert.Equal(2, single.Code);
        Assert.Equal($"repscope: error: one.npy: needs at least 2 runs (rows) for a t-test, got 1\n", single.Err.Replace(Path.Combine(_dir, ""), ""));

        var missing = Repscope("classdiff", "nope.npy", "two.npy");
        Assert.Equal(2, missing.Code);
        Assert.Single(missing.Err.Trim().Split('\n'));

        var none = Repscope("errors", "-a", "runs/x*", "--group-b", "runs/y*", "--out", "out");
        Assert.Equal(2, none.Code);
        Assert.Equal("repscope: error: --group-a 'runs/x*': matches no run directory", none.Err.Trim().Split('\n')[^1]);
        Assert.False(Directory.Exists(Path.Combine(_dir, "out")));

        var noOut = Repscope("errors", "-a", "runs/x*", "-b", "runs/y*");
        Assert.Equal(2, noOut.Code);
        Assert.Contains("--out is required", noOut.Err);
    }

    [Fact]
    public void HelpRendersForBothCommands()
    {
        var errors = Repscope("errors", "--help");
        Assert.True(errors.Code == 0, errors.Err);
        Assert.Contains("--group-a <GLOB>", errors.Out);
        Assert.Contains("0.05", errors.Out);
        var classdiff = Repscope("classdiff", "--help");
        Assert.True(classdiff.Code == 0, classdiff.Err);
        Assert.Contains("--welch", classdiff.Out);
    }
}
