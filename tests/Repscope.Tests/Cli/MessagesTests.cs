using Repscope.Analysis.Errors;
using Repscope.Interop;

namespace Repscope.Tests.Cli;

/// <summary>Messages that say what is wrong and what to do (issue 15, hostile input 7 and 8).</summary>
public sealed class MessagesTests : IDisposable
{
    private readonly string _dir = CliRunner.TempDir();

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void RunsOnAFileSaysItIsAFile()
    {
        string file = Path.Combine(_dir, "notes.txt");
        File.WriteAllText(file, "x");
        var o = CliRunner.Run("runs", file);
        Assert.Equal(2, o.ExitCode);
        Assert.Equal($"repscope: error: {file}: a file, not a folder of runs", o.ErrorLine);
    }

    [Fact]
    public void ArraysOrAPyTorchFileWhereAModelIsExpectedAreNamedBeforeTheModelsInputs()
    {
        string npy = Path.Combine(_dir, "acts.npy"), npz = Path.Combine(_dir, "acts.npz"), pt = Path.Combine(_dir, "model.pt");
        Npy.Write(npy, NdArray.FromFloat32("x", new float[12], 3, 4));
        Npz.Write(npz, [NdArray.FromFloat32("layer1", new float[12], 3, 4)]);
        using (var zip = System.IO.Compression.ZipFile.Open(pt, System.IO.Compression.ZipArchiveMode.Create))
        {
            using var w = new StreamWriter(zip.CreateEntry("model/data.pkl").Open());
            w.Write("x");
        }
        var o = CliRunner.Run("export", npy, "--out", Path.Combine(_dir, "e.npz"));
        Assert.Equal(2, o.ExitCode);
        Assert.Equal($"repscope: error: {npy}: a numpy .npy array, not a run directory or an ONNX model: activations in numpy files go to `cka`, `heatmap` and `layers` as they are", o.ErrorLine);
        o = CliRunner.Run("compare", npz, npz, "--input", npy, "--out", Path.Combine(_dir, "c"));
        Assert.Equal(2, o.ExitCode);
        Assert.Equal($"repscope: error: {npz}: a zip archive (an .npz of activations?), not a run directory or an ONNX model: activations in numpy files go to `cka`, `heatmap` and `layers` as they are", o.ErrorLine);
        o = CliRunner.Run("taps", npy);
        Assert.Equal(2, o.ExitCode);
        Assert.StartsWith($"repscope: error: {npy}: a numpy .npy array, not a run directory or an ONNX model", o.ErrorLine);
        o = CliRunner.Run("pc", pt, "--out", Path.Combine(_dir, "p"));
        Assert.Equal(2, o.ExitCode);
        Assert.StartsWith($"repscope: error: {pt}: a PyTorch file (torch.save)", o.ErrorLine);
        Assert.EndsWith("export the model with torch.onnx.export for Repscope (docs/onnx.md)", o.ErrorLine);
    }

    [Fact]
    public void TheHierarchyIsAJsonObjectOrAFile()
    {
        string[] classes = ["cat", "dog", "car", "ship"];
        var inline = Hierarchy.Read("{\"animals\": [\"cat\", 1], \"vehicles\": [2, \"ship\"]}", classes);
        Assert.Equal(["animals", "vehicles"], inline.Select(s => s.Name));
        Assert.Equal([0, 1], inline[0].Classes);
        Assert.Equal([2, 3], inline[1].Classes);
        string file = Path.Combine(_dir, "h.json");
        File.WriteAllText(file, "{\"animals\": [0, 1]}");
        Assert.Equal([0, 1], Hierarchy.Read(file, classes)[0].Classes);
        var e = Assert.Throws<RepscopeException>(() => Hierarchy.Read("{\"x\": [1", classes));
        Assert.StartsWith("hierarchy: not valid JSON", e.Message);
        e = Assert.Throws<RepscopeException>(() => Hierarchy.Read(Path.Combine(_dir, "none.json"), classes));
        Assert.Contains("hierarchy file not found (give a JSON object, or a file holding one)", e.Message);
    }

    [Fact]
    public void ClassDiffOnRunFoldersPointsToErrors()
    {
        var o = CliRunner.Run("classdiff", _dir, _dir);
        Assert.Equal(2, o.ExitCode);
        Assert.Equal($"repscope: error: {_dir}: a folder, not a .npy of per-class accuracies; to compare runs' mistakes per example and per class, use `repscope errors --group-a 'RUNS_A*' --group-b 'RUNS_B*'`", o.ErrorLine);
    }

    [Theory]
    [InlineData(1.2, "accuracy 1.2 is outside [0, 1] (percentages? divide them by 100)")]
    [InlineData(-0.1, "accuracy -0.1 is outside [0, 1]")]
    public void ClassDiffRefusesAccuraciesOutsideZeroToOne(double bad, string message)
    {
        string a = Path.Combine(_dir, "a.npy"), b = Path.Combine(_dir, "b.npy");
        Npy.Write(a, NdArray.FromFloat64("a", [0.9, 0.8, bad, 0.7], 2, 2));
        Npy.Write(b, NdArray.FromFloat64("b", [0.9, 0.8, 0.6, 0.7], 2, 2));
        var o = CliRunner.Run("classdiff", a, b);
        Assert.Equal(2, o.ExitCode);
        Assert.Equal($"repscope: error: {a}: row 1, column 0: {message}", o.ErrorLine);
    }

    [Fact]
    public void BadOutputPathsAreRefusedBeforeTheWork()
    {
        string file = Path.Combine(_dir, "taken");
        File.WriteAllText(file, "");
        string folder = Path.Combine(_dir, "folder");
        Directory.CreateDirectory(folder);
        var e = Assert.Throws<RepscopeException>(() => Repscope.Cli.OutputPath.CheckFile(folder, "--out"));
        Assert.Equal($"--out {folder}: is a folder; give a file name", e.Message);
        e = Assert.Throws<RepscopeException>(() => Repscope.Cli.OutputPath.CheckFolder(Path.Combine(file, "x"), "--out"));
        Assert.Equal($"--out {Path.Combine(file, "x")}: {file} is a file, not a folder", e.Message);
        Repscope.Cli.OutputPath.CheckFolder(Path.Combine(_dir, "new", "deeper"), "--out");   // creatable: fine
        Assert.False(Directory.Exists(Path.Combine(_dir, "new")));                            // and nothing created by the check
    }

    /// <summary>The library names its parameters (batchSize); the command line shows them as the flags the user typed.</summary>
    [Fact]
    public void LibraryParametersAreShownAsFlags()
    {
        var o = CliRunner.Run("train", "--epochs", "0", "--out", Path.Combine(_dir, "r"));
        Assert.Equal(2, o.ExitCode);
        Assert.Equal("repscope: error: --epochs must be at least 1, got 0", o.ErrorLine);
        var e = Assert.Throws<RepscopeException>(() => new Repscope.Training.TrainOptions { Epochs = 1, WarmupEpochs = -1, Out = "r" }.Validate());
        Assert.Equal("warmupEpochs must be >= 0, got -1", e.Message);
        Assert.Equal("--warmup-epochs must be >= 0, got -1", e.MessageWith(Repscope.Cli.App.Flag));
    }

    /// <summary>The error comparison names its groups by parameter (groupA, groupB, control); the command line by flag.</summary>
    [Theory]
    [InlineData("a", "groupA", "--group-a")]
    [InlineData("b", "groupB", "--group-b")]
    [InlineData("control", "control", "--control")]
    public void ErrorGroupsAreParametersInTheLibraryAndFlagsOnTheCommandLine(string empty, string parameter, string flag)
    {
        // Two runs in each group, except the one under test, which matches nothing.
        string Pattern(string group) => group == empty ? Path.Combine(_dir, "none*") : Path.Combine(_dir, "runs", group + "*");
        var options = new Repscope.Workflows.ErrorOptions(Pattern("a"), Pattern("b"), Path.Combine(_dir, "out"))
        {
            Control = empty == "control" ? Pattern("control") : null,
        };
        foreach (string run in new[] { "a1", "a2", "b1", "b2" }) { Directory.CreateDirectory(Path.Combine(_dir, "runs", run)); }   // the patterns are matched before any run is read
        var e = Assert.Throws<RepscopeException>(() => Repscope.Workflows.ErrorsWorkflow.Run(options));
        Assert.Equal($"{parameter} '{Path.Combine(_dir, "none*")}': matches no run directory", e.Message);
        Assert.Equal($"{flag} '{Path.Combine(_dir, "none*")}': matches no run directory", e.MessageWith(Repscope.Cli.App.Flag));
    }

    /// <summary>A file that is not a CKA state says what a state is, in the library's words (no command line in it).</summary>
    [Fact]
    public void NotACkaStateSaysWhatAStateIs()
    {
        string file = Path.Combine(_dir, "x.npz");
        Npz.Write(file, [NdArray.FromFloat64("cross", [1.0], 1)]);
        var e = Assert.Throws<RepscopeException>(() => Repscope.Cluster.CkaShards.ReadState(file));
        Assert.Equal($"{file}: not a CKA state (no 'state.json'; a state is the {Repscope.Cluster.CkaShards.Format} .npz that one shard of a CKA heatmap, layers or compare writes)", e.Message);
        Assert.DoesNotContain("--", e.Message.Replace(file, "", StringComparison.Ordinal), StringComparison.Ordinal);
    }
}
