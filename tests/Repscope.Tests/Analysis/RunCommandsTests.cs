using Repscope.Tests.Cli;
using System.Text.Json;
using Repscope.Analysis;
using Repscope.Data;
using Repscope.Interop;
using Repscope.Models;
using Repscope.Training;
using TorchSharp;

namespace Repscope.Tests.Analysis;

/// <summary>A tiny run trained once (ResNet-14 at width 0.5, one epoch on 300 Fashion-MNIST images, 200 test images).</summary>
public sealed class TinyRunFixture : IDisposable
{
    public string Root { get; } = Path.Combine(Path.GetTempPath(), $"repscope-analysis-{Guid.NewGuid():N}");
    public string Run => Path.Combine(Root, "r14");

    public TinyRunFixture()
    {
        Directory.CreateDirectory(Root);
        Trainer.Train(new TrainOptions
        {
            Depth = 14, Width = 0.5, Epochs = 1, BatchSize = 64, Seed = 3, Threads = 2, Out = Run,
            Data = new DataSpec { Name = DataName.FashionMnistSmall, TrainExamples = 300, TestExamples = 200 },
        });
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

public class RunCommandsTests(TinyRunFixture fixture) : IClassFixture<TinyRunFixture>
{
    private static (int Code, string Out, string Err) Repscope(params string[] args)
    {
        var o = CliRunner.Run(args);
        return (o.ExitCode, o.Out, o.Err);
    }

    private static JsonElement Json(string path) => JsonDocument.Parse(File.ReadAllText(path)).RootElement;

    private static double[][] Matrix(JsonElement e) =>
        e.EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();

    [Fact]
    public void LayersAndCompareWithItself()
    {
        var (code, stdout, err) = Repscope("layers", fixture.Run, "--batch-size", "50");
        Assert.True(code == 0, err);
        Assert.Contains("block structure", stdout);
        string folder = Path.Combine(fixture.Run, "analysis");
        var layers = Json(Path.Combine(folder, "layers.json"));
        var cka = Matrix(layers.GetProperty("cka"));
        int l = cka.Length;
        Assert.Equal(7, l);     // ResNet-14: stem + 3 stages x 2 blocks
        for (int i = 0; i < l; i++)
        {
            Assert.Equal(1, cka[i][i], 12);
            for (int j = 0; j < l; j++) { Assert.Equal(cka[i][j], cka[j][i], 12); }
        }
        Assert.Equal(200, layers.GetProperty("examples").GetInt64());
        Assert.Equal(4, layers.GetProperty("batches").GetInt32());
        Assert.All(layers.GetProperty("pc1Fraction").EnumerateArray(), f => Assert.InRange(f.GetDouble(), 0, 1));
        Assert.True(new FileInfo(Path.Combine(folder, "layers.png")).Length > 1000);
        Assert.True(new FileInfo(Path.Combine(folder, "layers_pc1.png")).Length > 1000);

        // Later analyses read the block structure back from layers.json.
        (code, _, err) = Repscope("prune", fixture.Run);
        Assert.True(code == 0, err);
        var prune = Json(Path.Combine(folder, "prune.json"));
        Assert.EndsWith("layers.json", prune.GetProperty("blockStructureSource").GetString());
        Assert.Equal(layers.GetProperty("blockStructure").GetProperty("spans").GetArrayLength(), prune.GetProperty("blockStructure").GetArrayLength());

        string outDir = Path.Combine(fixture.Root, "cmp");
        (code, _, err) = Repscope("compare", fixture.Run, fixture.Run, "--batch-size", "50", "--out", outDir);
        Assert.True(code == 0, err);
        var cross = Matrix(Json(Directory.GetFiles(outDir, "*.json").Single()).GetProperty("cka"));
        for (int i = 0; i < l; i++)
        {
            for (int j = 0; j < l; j++) { Assert.Equal(cka[i][j], cross[i][j], 9); }
        }
    }

    [Fact]
    public void PruneWithNothingDeletedGivesTheRunsAccuracy()
    {
        var (code, _, err) = Repscope("prune", fixture.Run);
        Assert.True(code == 0, err);
        var prune = Json(Path.Combine(fixture.Run, "analysis", "prune.json"));
        double runAccuracy = RunDirectory.Open(fixture.Run).Info.FinalTestAccuracy!.Value;
        Assert.Equal(runAccuracy, prune.GetProperty("result").GetProperty("baseline").GetDouble(), 12);
        Assert.Equal(6, prune.GetProperty("result").GetProperty("steps").GetArrayLength());
        Assert.True(File.Exists(Path.Combine(fixture.Run, "analysis", "prune.png")));
    }

    [Fact]
    public void PcAndProbeWriteTheirResults()
    {
        var (code, _, err) = Repscope("pc", fixture.Run, "--examples", "120", "--batch-size", "40");
        Assert.True(code == 0, err);
        var pc = Json(Path.Combine(fixture.Run, "analysis", "pc.json"));
        var cos = Matrix(pc.GetProperty("pc1SquaredCosine"));
        Assert.All(Enumerable.Range(0, cos.Length), i => Assert.Equal(1, cos[i][i], 9));
        Assert.True(File.Exists(Path.Combine(fixture.Run, "analysis", "pc_cka_without_pc1.png")));

        (code, _, err) = Repscope("probe", fixture.Run, "--train-examples", "120", "--iterations", "30");
        Assert.True(code == 0, err);
        var probes = Json(Path.Combine(fixture.Run, "analysis", "probe.json")).GetProperty("probes");
        // stem + 6 block outputs + 6 branches
        Assert.Equal(13, probes.GetArrayLength());
        // Each accuracy is a count of the 80 held-out examples: k / 80 for a whole k in 0..80.
        Assert.All(probes.EnumerateArray(), p =>
        {
            double k = p.GetProperty("result").GetProperty("testAccuracy").GetDouble() * 80;
            Assert.InRange(k, -1e-9, 80 + 1e-9);
            Assert.Equal(Math.Round(k), k, 3);   // float32 accuracies: k within 1e-3 of a whole number
        });
        Assert.Equal(80, probes[0].GetProperty("result").GetProperty("testExamples").GetInt64());
        Assert.Equal("test-split", Json(Path.Combine(fixture.Run, "analysis", "probe.json")).GetProperty("fitOn").GetString());

        // The default, as in the paper: fitted on the run's 300 training images, measured on its 200 test images.
        (code, _, err) = Repscope("probe", fixture.Run, "--iterations", "30");
        Assert.True(code == 0, err);
        var held = Json(Path.Combine(fixture.Run, "analysis", "probe.json"));
        Assert.Equal("training-set", held.GetProperty("fitOn").GetString());
        Assert.Equal((300, 200), (held.GetProperty("trainExamples").GetInt64(), held.GetProperty("testExamples").GetInt64()));
        var results = held.GetProperty("probes").EnumerateArray().Select(p => p.GetProperty("result")).ToList();
        Assert.All(results, r => Assert.Equal((300, 200), (r.GetProperty("trainExamples").GetInt64(), r.GetProperty("testExamples").GetInt64())));
        // Probes fit the images they were trained on better than held-out ones (on average over the layers).
        Assert.True(results.Average(r => r.GetProperty("trainAccuracy").GetDouble()) > results.Average(r => r.GetProperty("testAccuracy").GetDouble()));
    }

    [Fact]
    public void ExportWritesTheSameActivationsTheModelStreams()
    {
        string npz = Path.Combine(fixture.Root, "acts.npz");
        var (code, _, err) = Repscope("export", fixture.Run, "--out", npz, "--indices", "3,7,11");
        Assert.True(code == 0, err);
        var arrays = Npz.Read(npz).ToDictionary(a => a.Name);
        Assert.Equal(new long[] { 3, 7, 11 }, arrays["indices"].ToInt64());
        var dir = RunDirectory.Open(fixture.Run);
        using var model = dir.LoadModel();
        using var test = dir.LoadTestSet();
        using var chosen = test.Subset([3, 7, 11]);
        Assert.Equal(chosen.Labels, arrays["labels"].ToInt64());
        Activations.Stream(model, chosen, 3, TapSet.Blocks, (_, taps) =>
        {
            var names = model.TapNames(TapSet.Blocks);
            for (int i = 0; i < names.Count; i++)
            {
                var a = arrays[names[i]];
                Assert.Equal(3, a.Shape[0]);
                Assert.Equal(4, a.Shape.Length);                      // [n, C, H, W]
                Assert.Equal(taps[i].data<float>().ToArray(), a.ToFloat32());
            }
        });
    }

    [Fact]
    public void LayersOnExportedActivationsGivesWhatLayersGivesOnTheRun()
    {
        string npz = Path.Combine(fixture.Root, "all.npz"), outDir = Path.Combine(fixture.Root, "layers-npz");
        var (code, _, err) = Repscope("export", fixture.Run, "--out", npz, "--examples", "200", "--batch-size", "50");
        Assert.True(code == 0, err);
        (code, _, err) = Repscope("layers", fixture.Run, "--batch-size", "50");
        Assert.True(code == 0, err);
        var run = Json(Path.Combine(fixture.Run, "analysis", "layers.json"));
        (code, var stdout, err) = Repscope("layers", npz, "--batch-size", "50", "--out", outDir);
        Assert.True(code == 0, err);
        Assert.Contains("skipped 'labels'", err);
        Assert.Contains("skipped 'indices'", err);
        Assert.Contains("block structure", stdout);
        var acts = Json(Path.Combine(outDir, "layers.json"));
        Assert.Equal(run.GetProperty("layers").EnumerateArray().Select(e => e.GetString()), acts.GetProperty("layers").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(run.GetProperty("batches").GetInt32(), acts.GetProperty("batches").GetInt32());
        var (a, b) = (Matrix(run.GetProperty("cka")), Matrix(acts.GetProperty("cka")));
        for (int i = 0; i < a.Length; i++)
        {
            for (int j = 0; j < a.Length; j++) { Assert.Equal(a[i][j], b[i][j], 9); }
        }
        var (pcRun, pcActs) = (run.GetProperty("pc1Fraction").EnumerateArray().Select(e => e.GetDouble()).ToList(),
                               acts.GetProperty("pc1Fraction").EnumerateArray().Select(e => e.GetDouble()).ToList());
        Assert.Equal(pcRun.Count, pcActs.Count);
        for (int i = 0; i < pcRun.Count; i++) { Assert.Equal(pcRun[i], pcActs[i], 9); }
        Assert.Equal(run.GetProperty("blockStructure").GetProperty("spans").GetRawText(), acts.GetProperty("blockStructure").GetProperty("spans").GetRawText());
        var (scoreRun, scoreActs) = (run.GetProperty("blockStructureScore").GetProperty("point"), acts.GetProperty("blockStructureScore").GetProperty("point"));
        Assert.Equal(scoreRun.GetProperty("first").GetInt32(), scoreActs.GetProperty("first").GetInt32());
        Assert.Equal(scoreRun.GetProperty("last").GetInt32(), scoreActs.GetProperty("last").GetInt32());
        Assert.Equal(scoreRun.GetProperty("strength").GetDouble(), scoreActs.GetProperty("strength").GetDouble(), 9);
        Assert.True(new FileInfo(Path.Combine(outDir, "layers.png")).Length > 1000);
        Assert.True(new FileInfo(Path.Combine(outDir, "layers_pc1.png")).Length > 1000);
    }

    [Fact]
    public void BadInputIsOneLineAndExit2()
    {
        var (code, _, err) = Repscope("layers", Path.Combine(fixture.Root, "no-such-run"));
        Assert.Equal(2, code);
        Assert.StartsWith("repscope: error:", err.Trim());
        Assert.Contains("no-such-run", err);
        (code, _, err) = Repscope("layers", fixture.Run, "--batch-size", "2");
        Assert.Equal(2, code);
        Assert.Contains("--batch-size", err);
        (code, _, err) = Repscope("export", fixture.Run, "--out", Path.Combine(fixture.Root, "x.npz"), "--indices", "5,100000");
        Assert.Equal(2, code);
        Assert.Contains("100000", err);
        (code, _, err) = Repscope("compare", fixture.Run);
        Assert.Equal(2, code);
        // issue 15, hostile 8: more examples than the test set holds is an error, not quietly all of them.
        (code, _, err) = Repscope("compare", fixture.Run, fixture.Run, "--examples", "99999", "--out", Path.Combine(fixture.Root, "cmp-too-many"));
        Assert.Equal(2, code);
        Assert.Contains("repscope: error: --examples 99999 asked for, but the test set has only 200", err);
        (code, _, err) = Repscope("layers", fixture.Run, "--block-threshold", "1.5");
        Assert.Equal(2, code);
        Assert.Contains("threshold", err);
    }
}
