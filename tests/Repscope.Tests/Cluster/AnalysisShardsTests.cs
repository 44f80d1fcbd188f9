using System.Text.Json;
using Repscope.Analysis;
using Repscope.Cluster;
using Repscope.Models;
using Repscope.Similarity;
using Repscope.Tests.Analysis;
using Repscope.Tests.Cli;
using Repscope.Tests.Models;
using Repscope.Workflows;

namespace Repscope.Tests.Cluster;

/// <summary>
/// `layers` and `compare` split into shards (<see cref="AnalysisShards"/>) and merged give what one unsharded run gives
/// from its CKA map: the map, the block structure and the block-structure score with its bootstrap interval, to 1e-12;
/// states of other models, settings or commands are refused naming the file.
/// </summary>
public sealed class AnalysisShardsTests(TinyRunFixture fixture) : IClassFixture<TinyRunFixture>, IDisposable
{
    private readonly string _dir = CliRunner.TempDir();
    private static readonly string Images = OnnxFixtures.File("cnn_input.npy");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly StreamOptions Options = new(Examples: 100, BatchSize: 16);

    private List<string> LayersShards(int count, StreamOptions options, string tag)
    {
        var states = new List<string>();
        using var source = new RunSource(fixture.Run, options);
        for (int k = 1; k <= count; k++)
        {
            string state = Path.Combine(_dir, $"{tag}-{k}.npz");
            AnalysisShards.Layers(source, options, new ShardSpec(k, count), state, commandLine: ["layers", "test"]);
            states.Add(state);
        }
        return states;
    }

    private static void Equal(double[][] expected, double[][] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].Length, actual[i].Length);
            for (int j = 0; j < expected[i].Length; j++) { Assert.Equal(expected[i][j], actual[i][j], 1e-12); }
        }
    }

    [Fact]
    public void Layers_of_a_run_in_shards_merge_to_the_unsharded_map_block_structure_and_score()
    {
        using var source = new RunSource(fixture.Run, Options);
        var (whole, _) = LayersWorkflow.Run(source, Directory.CreateDirectory(Path.Combine(_dir, "whole")).FullName, Options);
        // 100 examples in batches of 16: 7 batches (the last of 4); 3 slices of 2, 2 and 3 batches, and 9 slices, two of them empty.
        foreach (int count in new[] { 3, 9 })
        {
            var states = LayersShards(count, Options, $"s{count}");
            var (merged, files) = AnalysisShards.MergeLayers([.. states.AsEnumerable().Reverse()], Path.Combine(_dir, $"merged{count}"));
            Assert.Equal(["layers.json", "layers.png", "layers_batches.npz"], files.Select(Path.GetFileName));
            Assert.Equal(whole.Layers, merged.Layers);
            Assert.Equal((whole.Examples, whole.Batches, whole.BatchSize, whole.Taps), (merged.Examples, merged.Batches, merged.BatchSize, merged.Taps));
            Equal(whole.Cka, merged.Cka);
            Assert.InRange(whole.Cka[0][^1], 0.05, 0.99);   // a real map: the stem and the last residual block differ
            Assert.Equal(whole.BlockStructure.Spans.Select(b => (b.First, b.Last)), merged.BlockStructure.Spans.Select(b => (b.First, b.Last)));
            Assert.Equal(whole.BlockStructure.Level, merged.BlockStructure.Level, 1e-12);
            var (ws, ms) = (whole.BlockStructureScore!, merged.BlockStructureScore!);
            Assert.Equal((ws.Point.First, ws.Point.Last), (ms.Point.First, ms.Point.Last));
            foreach (var (w, m) in new[] { (ws.Strength, ms.Strength), (ws.Coverage, ms.Coverage) })
            {
                Assert.False(double.IsNaN(w.Low));   // the bootstrap over the 7 batches ran
                Assert.Equal(w.Estimate, m.Estimate, 1e-12);
                Assert.Equal(w.Low, m.Low, 1e-12);
                Assert.Equal(w.High, m.High, 1e-12);
            }
            // PC1 needs every example in one job: not in the merged result.
            Assert.Empty(merged.Pc1Fraction);
            Assert.Null(merged.PcOptions);
            Assert.Equal(count, merged.MergedShards);
            Assert.Equal(count, LayersWorkflow.Read(files[0]).MergedShards);
            // The per-batch state beside it is the unsharded one: the same batches in the same order.
            var batches = CkaBatchState.Load(files[2]);
            var wholeBatches = CkaBatchState.Load(Path.Combine(_dir, "whole", LayersWorkflow.BatchStateFile));
            Assert.Equal(wholeBatches.Batches, batches.Batches);
            for (int b = 0; b < batches.Batches; b++) { Assert.Equal(wholeBatches.Cross[b], batches.Cross[b]); }
        }
    }

    [Fact]
    public void Compare_of_two_runs_in_shards_merges_to_the_unsharded_map()
    {
        var options = Options with { Taps = TapSet.Branches };
        // The same run twice (branch taps): a cross-model map whose off-diagonal cells are real similarities.
        var whole = Assert.Single(CompareWorkflow.Run([fixture.Run, fixture.Run], Path.Combine(_dir, "whole"), options)).Result;
        var states = new List<string>();
        using (var a = new RunSource(fixture.Run, options))
        using (var b = new RunSource(fixture.Run, options))
        {
            for (int k = 1; k <= 4; k++)
            {
                string state = Path.Combine(_dir, $"c{k}.npz");
                var info = AnalysisShards.Compare(a, b, options, new ShardSpec(k, 4), state);
                Assert.Equal(CkaShards.Compare, info.Command);
                Assert.Equal(4, info.Inputs.Count);   // each run's weights and examples
                states.Add(state);
            }
        }
        var (merged, files) = AnalysisShards.MergeCompare(states, Path.Combine(_dir, "merged"));
        Assert.Equal(["compare_r14-1_vs_r14-2.json", "compare_r14-1_vs_r14-2.png"], files.Select(Path.GetFileName));
        Assert.Equal(whole.RowLayers, merged.RowLayers);
        Assert.Equal(whole.ColumnLayers, merged.ColumnLayers);
        Equal(whole.Cka, merged.Cka);
        Assert.Equal(whole.BatchState!.Batches, merged.BatchState!.Batches);
        Assert.InRange(whole.Cka[0][^1], 0.05, 0.99);
    }

    [Fact]
    public void Mismatched_repeated_and_foreign_states_are_refused_naming_the_file()
    {
        var states = LayersShards(3, Options, "m");
        string otherBatch = Path.Combine(_dir, "other-batch.npz");
        using (var source = new RunSource(fixture.Run, Options with { BatchSize = 20 }))
        {
            AnalysisShards.Layers(source, Options with { BatchSize = 20 }, new ShardSpec(2, 3), otherBatch);
        }
        var e = Assert.Throws<RepscopeException>(() => AnalysisShards.MergeLayers([states[0], otherBatch, states[2]], Path.Combine(_dir, "x")));
        Assert.StartsWith(otherBatch + ": it was made with other settings", e.Message);

        string otherTaps = Path.Combine(_dir, "other-taps.npz");
        using (var source = new RunSource(fixture.Run, Options with { Taps = TapSet.Branches }))
        {
            AnalysisShards.Layers(source, Options with { Taps = TapSet.Branches }, new ShardSpec(2, 3), otherTaps);
        }
        e = Assert.Throws<RepscopeException>(() => AnalysisShards.MergeLayers([states[0], otherTaps, states[2]], Path.Combine(_dir, "x")));
        Assert.StartsWith(otherTaps + ": it was made with other settings", e.Message);

        e = Assert.Throws<RepscopeException>(() => AnalysisShards.MergeLayers([states[0], states[1], states[1], states[2]], Path.Combine(_dir, "x")));
        Assert.Equal($"{states[1]}: shard 2/3 is also in {states[1]}", e.Message);

        // Another model (the same file name, other weights): its checksum tells.
        string onnxA = Path.Combine(_dir, "a", "model.onnx"), onnxB = Path.Combine(_dir, "b", "model.onnx");
        Directory.CreateDirectory(Path.GetDirectoryName(onnxA)!);
        Directory.CreateDirectory(Path.GetDirectoryName(onnxB)!);
        File.Copy(OnnxFixtures.ModelPath("cnn"), onnxA);
        File.Copy(OnnxFixtures.ModelPath("cnn_b"), onnxB);
        string OnnxShard(string model, int k, string name)
        {
            string state = Path.Combine(_dir, name);
            var o = CliRunner.Run("layers", model, "--input", Images, "--batch-size", "8", "--shard", $"{k}/2", "--state", state);
            Assert.True(o.ExitCode == 0, o.Err);
            return state;
        }
        string a1 = OnnxShard(onnxA, 1, "a1.npz"), b2 = OnnxShard(onnxB, 2, "b2.npz");
        var refused = CliRunner.Run("merge", a1, b2, "--out", Path.Combine(_dir, "y"));
        Assert.Equal(2, refused.ExitCode);
        Assert.StartsWith($"repscope: error: {b2}: its inputs (model.onnx, model: inputs images) have other contents (SHA-256) than {a1}", refused.ErrorLine);

        // A state of another command.
        string heat = Path.Combine(_dir, "acts.npz");
        var rng = new Random(3);
        Repscope.Interop.Npz.Write(heat, [Repscope.Interop.NdArray.FromFloat64("x", [.. Enumerable.Range(0, 40 * 3).Select(_ => rng.NextDouble())], 40, 3)]);
        string heatState = Path.Combine(_dir, "heat2.npz");
        Assert.Equal(0, CliRunner.Run("heatmap", heat, "--batch-size", "8", "--shard", "2/2", "--state", heatState).ExitCode);
        Assert.StartsWith($"repscope: error: {heatState}: it was written by another command (`repscope heatmap`) than {a1}",
                          CliRunner.Run("merge", a1, heatState, "--out", Path.Combine(_dir, "z")).ErrorLine);
        Assert.Throws<RepscopeException>(() => AnalysisShards.MergeCompare([a1], Path.Combine(_dir, "z")));

        // What needs every example in one job cannot be sharded.
        using var run = new RunSource(fixture.Run, Options);
        Assert.Contains("cannot be split into shards",
                        Assert.Throws<RepscopeException>(() => AnalysisShards.Layers(run, Options with { Epochs = 2 }, new ShardSpec(1, 2), Path.Combine(_dir, "e.npz"))).Message);
    }

    private static double[][] Matrix(string json, string property)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        return [.. doc.RootElement.GetProperty(property).EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray())];
    }

    [Fact]
    public void Onnx_layers_and_compare_from_the_command_line_merge_to_the_unsharded_files()
    {
        string cnn = OnnxFixtures.ModelPath("cnn"), cnnB = OnnxFixtures.ModelPath("cnn_b");
        string taps = string.Join(",", OnnxFixtures.Taps("cnn"));
        string[] common = ["--input", Images, "--taps", taps, "--batch-size", "6"];
        var whole = CliRunner.Run(["layers", cnn, .. common, "--out", Path.Combine(_dir, "whole")]);
        Assert.True(whole.ExitCode == 0, whole.Err);
        var wholeCompare = CliRunner.Run(["compare", cnn, cnnB, .. common, "--out", Path.Combine(_dir, "whole")]);
        Assert.True(wholeCompare.ExitCode == 0, wholeCompare.Err);
        var (layerStates, compareStates) = (new List<string>(), new List<string>());
        for (int k = 1; k <= 3; k++)
        {
            string ls = Path.Combine(_dir, $"l{k}.npz"), cs = Path.Combine(_dir, $"c{k}.npz");
            var o = CliRunner.Run(["layers", cnn, .. common, "--shard", $"{k}/3", "--state", ls]);
            Assert.True(o.ExitCode == 0, o.Err);
            Assert.Contains($"shard {k}/3: minibatches", o.Out);
            o = CliRunner.Run(["compare", cnn, cnnB, .. common, "--shard", $"{k}/3", "--state", cs]);
            Assert.True(o.ExitCode == 0, o.Err);
            (layerStates, compareStates) = ([.. layerStates, ls], [.. compareStates, cs]);
        }
        var merged = CliRunner.Run(["merge", .. layerStates, "--out", Path.Combine(_dir, "merged")]);
        Assert.True(merged.ExitCode == 0, merged.Err);
        Assert.Contains("merged 3 shards of layers", merged.Out);
        merged = CliRunner.Run(["merge", .. compareStates, "--out", Path.Combine(_dir, "merged")]);
        Assert.True(merged.ExitCode == 0, merged.Err);
        Equal(Matrix(Path.Combine(_dir, "whole", "layers.json"), "cka"), Matrix(Path.Combine(_dir, "merged", "layers.json"), "cka"));
        var cross = Matrix(Path.Combine(_dir, "whole", "compare_cnn_vs_cnn_b.json"), "cka");
        Equal(cross, Matrix(Path.Combine(_dir, "merged", "compare_cnn_vs_cnn_b.json"), "cka"));
        Assert.InRange(cross[0][0], 0.05, 0.999);   // two models with other weights
        Assert.True(File.Exists(Path.Combine(_dir, "merged", "compare_cnn_vs_cnn_b.png")) && File.Exists(Path.Combine(_dir, "merged", "layers.png")));
        Assert.False(File.Exists(Path.Combine(_dir, "merged", "layers_pc1.png")));

        Assert.Contains("splits the map of one pair",
                        CliRunner.Run(["compare", cnn, cnnB, cnn, .. common, "--shard", "1/2", "--state", Path.Combine(_dir, "x.npz")]).ErrorLine);
        Assert.Contains("--shard K/N and --state S.npz go together", CliRunner.Run(["layers", cnn, .. common, "--shard", "1/2"]).ErrorLine);
    }
}
