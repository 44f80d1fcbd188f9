using System.Text.Json;
using Repscope.Interop;
using Repscope.Tests.Cli;
using Repscope.Workflows;

namespace Repscope.Tests.Workflows;

/// <summary>`layers ACTS.npz`: the within-model analysis of saved activations, on a planted structure whose answer is known.</summary>
public class NpzLayersTests
{
    private const int N = 400, D = 12;

    /// <summary>
    /// Eight layers in two groups of four: each layer of a group is its group's signal (N x D Gaussian) with its columns
    /// permuted and sign-flipped (an orthogonal map, under which linear CKA is 1) plus 1% noise; the two signals are
    /// independent. Then a 1-D int64 "labels" member (class-sorted) that must be skipped.
    /// </summary>
    private static string Planted(string dir)
    {
        var random = new Random(7);
        double Gauss() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        var signals = Enumerable.Range(0, 2).Select(_ => Enumerable.Range(0, N * D).Select(_ => Gauss()).ToArray()).ToArray();
        var arrays = new List<NdArray>();
        for (int layer = 0; layer < 8; layer++)
        {
            var s = signals[layer / 4];
            var permutation = Enumerable.Range(0, D).OrderBy(_ => random.Next()).ToArray();
            var sign = Enumerable.Range(0, D).Select(_ => random.Next(2) == 0 ? -1.0 : 1.0).ToArray();
            var data = new float[N * D];
            for (int i = 0; i < N; i++)
            {
                for (int j = 0; j < D; j++) { data[i * D + j] = (float)(sign[j] * s[i * D + permutation[j]] + 0.01 * Gauss()); }
            }
            arrays.Add(NdArray.FromFloat32($"layer{layer}", data, N, D));
        }
        arrays.Add(NdArray.FromInt64("labels", Enumerable.Range(0, N).Select(i => (long)(i * 10 / N)).ToArray(), N));
        string path = Path.Combine(dir, "planted.npz");
        Npz.Write(path, arrays);
        return path;
    }

    [Fact]
    public void APlantedStructureGivesItsTwoBlockStructuresAndTheCkaOfAnOrthogonalMap()
    {
        string dir = CliRunner.TempDir();
        try
        {
            string npz = Planted(dir);
            using var source = new NpzSource(npz, new StreamOptions(BatchSize: 100));
            Assert.Equal(Enumerable.Range(0, 8).Select(i => $"layer{i}"), source.Layers);
            Assert.Contains(source.Notes, n => n.Contains("skipped 'labels'"));
            Assert.Contains(source.Warnings, w => w.Contains("'labels' is sorted"));
            var (r, files) = LayersWorkflow.Run(source, dir, new StreamOptions(BatchSize: 100));
            Assert.Equal(4, r.Batches);
            for (int i = 0; i < 8; i++)
            {
                for (int j = 0; j < 8; j++)
                {
                    // Same group: CKA of an orthogonal map of the same data, 1 up to the 1% noise; different groups: independent, about 0.
                    if (i / 4 == j / 4) { Assert.InRange(r.Cka[i][j], 0.999, 1.0 + 1e-9); }
                    else { Assert.InRange(Math.Abs(r.Cka[i][j]), 0, 0.1); }
                }
            }
            Assert.Equal([(0, 3), (4, 7)], r.BlockStructure.Spans.Select(b => (b.First, b.Last)));
            // The heatmap's caption names every detected block structure, not only the first.
            Assert.StartsWith("block structure (CKA >= 0.9, >= 4 layers): B1 layer0..layer3 (4 layers), B2 layer4..layer7 (4 layers)\nblock-structure strength ",
                              AnalysisPlots.WithinModelSubtitle(r.BlockStructure, r.BlockStructureScore));
            Assert.Equal("block structure (CKA >= 0.9, >= 4 layers): B1 layer0..layer3 (4 layers),\nB2 layer4..layer7 (4 layers)",
                         Repscope.Analysis.AnalysisText.BlockStructureList(r.BlockStructure, perLine: 1));
            // The first principal component of D independent unit-variance columns explains about 1/D of the variance, never all of it.
            Assert.All(r.Pc1Fraction, f => Assert.InRange(f, 0.5 / D, 3.0 / D));
            Assert.NotNull(r.BlockStructureScore);
            // The score's best square is one of the planted structures, brighter than the block-free reference.
            var point = r.BlockStructureScore!.Point;
            Assert.True(point.Found);
            Assert.Contains((point.First, point.Last), new[] { (0, 3), (4, 7) });
            Assert.All(files, f => Assert.True(new FileInfo(f).Length > 0, f));

            // --taps chooses arrays by name or pattern, as heatmap's --layers does.
            Assert.Contains("no array matches conv*", CliRunner.Run("layers", npz, "--taps", "conv*", "--out", Path.Combine(dir, "bad")).ErrorLine);
            var o = CliRunner.Run("layers", npz, "--taps", "layer4,layer?5,layer6", "--batch-size", "100", "--out", Path.Combine(dir, "three"));
            Assert.True(o.ExitCode == 0, o.Err);
            var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "three", "layers.json"))).RootElement;
            Assert.Equal(["layer4", "layer6"], json.GetProperty("layers").EnumerateArray().Select(e => e.GetString()));
            Assert.Equal(r.Cka[4][6], json.GetProperty("cka")[0][1].GetDouble(), 12);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void BadUsesOfAnNpzAreOneLine()
    {
        string dir = CliRunner.TempDir();
        try
        {
            string npz = Planted(dir);
            Assert.Contains("needs --out DIR", CliRunner.Run("layers", npz).ErrorLine);
            Assert.Contains("--taps NAMES", CliRunner.Run("layers", npz, "--layers", "all", "--out", dir).ErrorLine);
            Assert.Contains($"{npz}: --examples 401 asked for, but its arrays have 400 rows", CliRunner.Run("layers", npz, "--examples", "401", "--out", dir).ErrorLine);
            Assert.Contains("--epochs above 1 needs a run directory", CliRunner.Run("layers", npz, "--epochs", "2", "--out", dir).ErrorLine);
            Assert.Contains("--max-npz-bytes: expected a size", CliRunner.Run("layers", npz, "--max-npz-bytes", "lots", "--out", dir).ErrorLine);
            Assert.Contains("more than the limit of 102,400 bytes", CliRunner.Run("layers", npz, "--max-npz-bytes", "100K", "--out", dir).ErrorLine);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
