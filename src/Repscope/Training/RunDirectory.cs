using System.Text.Json;
using Repscope.Data;
using Repscope.Interop;
using Repscope.Models;

namespace Repscope.Training;

/// <summary>What <see cref="RunDirectory.Inspect"/> finds in a folder.</summary>
public enum RunState { Finished, Partial, Broken }

/// <summary>A run folder's state without opening it: finished, partial (training or killed), or broken (and why).</summary>
public sealed record RunStatus(string Path, RunState State, RunInfo? Info, string? Problem);

/// <summary>
/// A finished run directory (docs/ARCHITECTURE.md): <see cref="Open"/> validates it, then the model, the test set it
/// was evaluated on and its predictions can be loaded. A missing or half-written run is a RepscopeException naming the
/// folder and what is missing.
/// </summary>
public sealed class RunDirectory
{
    public const string RunFile = "run.json";
    public const string ModelFile = "model.pt";
    public const string LabelsFile = "test_labels.npy";
    public const string PredictionsFile = "test_predictions.npy";
    public const string ProbabilitiesFile = "test_probabilities.npy";
    public const string AnalysisFolder = "analysis";

    private static readonly string[] FinishedFiles = [ModelFile, LabelsFile, PredictionsFile, ProbabilitiesFile];

    private RunDirectory(string path, RunInfo info)
    {
        Path = path;
        Info = info;
    }

    /// <summary>The run folder (full path).</summary>
    public string Path { get; }
    public RunInfo Info { get; }
    /// <summary>RUN/analysis, where analysis commands write (not created here).</summary>
    public string AnalysisPath => System.IO.Path.Combine(Path, AnalysisFolder);
    /// <summary>Short name for tables and plot labels: the folder name.</summary>
    public string Name => System.IO.Path.GetFileName(Path);

    /// <summary>Opens a finished run; anything else is a RepscopeException naming the folder and the problem.</summary>
    public static RunDirectory Open(string path)
    {
        string dir = System.IO.Path.GetFullPath(path);
        var info = ReadInfo(dir);
        if (info.State != RunInfo.StateFinished)
        {
            throw new RepscopeException($"{dir}: run is not finished (state '{info.State}', {info.Epochs.Count}/{info.Config.Epochs} epochs); continue it with 'repscope train --out {path} --resume'");
        }
        var missing = FinishedFiles.Where(f => !File.Exists(System.IO.Path.Combine(dir, f))).ToList();
        if (missing.Count > 0)
        {
            throw new RepscopeException($"{dir}: run.json says finished but {string.Join(", ", missing)} {(missing.Count == 1 ? "is" : "are")} missing");
        }
        return new RunDirectory(dir, info);
    }

    /// <summary>Finished, partial or broken, never throws for a bad run (for listings).</summary>
    public static RunStatus Inspect(string path)
    {
        string dir = System.IO.Path.GetFullPath(path);
        try
        {
            var info = ReadInfo(dir);
            if (info.State != RunInfo.StateFinished) { return new RunStatus(dir, RunState.Partial, info, null); }
            Open(dir);
            return new RunStatus(dir, RunState.Finished, info, null);
        }
        catch (Exception e) when (e is RepscopeException or IOException or UnauthorizedAccessException)
        {
            return new RunStatus(dir, RunState.Broken, null, e.Message);
        }
    }

    /// <summary>Every run under <paramref name="root"/> (folders holding run.json, at any depth, not inside a run), sorted by path.</summary>
    public static IReadOnlyList<RunStatus> FindAll(string root)
    {
        string dir = System.IO.Path.GetFullPath(root);
        if (File.Exists(dir) && System.IO.Path.GetFileName(dir) == RunFile) { dir = System.IO.Path.GetDirectoryName(dir)!; }
        else if (File.Exists(dir)) { throw new RepscopeException($"{dir}: a file, not a folder: give the folder that holds the runs (or a run directory)"); }
        if (!Directory.Exists(dir)) { throw new RepscopeException($"{dir}: folder not found"); }
        var found = new List<RunStatus>();
        void Walk(string d)
        {
            if (File.Exists(System.IO.Path.Combine(d, RunFile))) { found.Add(Inspect(d)); return; }
            IEnumerable<string> subs;
            try { subs = Directory.EnumerateDirectories(d).Order(StringComparer.Ordinal).ToList(); }
            catch (UnauthorizedAccessException) { return; }
            foreach (string s in subs) { Walk(s); }
        }
        Walk(dir);
        return found;
    }

    /// <summary>Reads and checks run.json (finished or not).</summary>
    public static RunInfo ReadInfo(string dir)
    {
        string file = System.IO.Path.Combine(dir, RunFile);
        if (!Directory.Exists(dir)) { throw new RepscopeException($"{dir}: run folder not found"); }
        if (!File.Exists(file)) { throw new RepscopeException($"{dir}: not a run folder (no {RunFile})"); }
        RunInfo? info;
        try
        {
            info = JsonSerializer.Deserialize<RunInfo>(File.ReadAllText(file), JsonDefaults.Options);
        }
        catch (JsonException e)
        {
            throw new RepscopeException($"{file}: not valid run JSON ({e.Message})");
        }
        if (info is null) { throw new RepscopeException($"{file}: empty"); }
        if (info.Format != RunInfo.CurrentFormat) { throw new RepscopeException($"{file}: format '{info.Format}', expected '{RunInfo.CurrentFormat}'"); }
        if (info.State is not (RunInfo.StateFinished or RunInfo.StateTraining)) { throw new RepscopeException($"{file}: unknown state '{info.State}'"); }
        return info;
    }

    /// <summary>The model with the run's final weights, in eval mode.</summary>
    public ResNet LoadModel()
    {
        var c = Info.Config;
        var model = ResNet.Cifar(c.Depth, c.Width, c.Residual, Info.TestSet.Classes, Info.TestSet.Channels);
        string file = System.IO.Path.Combine(Path, ModelFile);
        try
        {
            model.load(file, strict: true);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or EndOfStreamException or IOException)
        {
            model.Dispose();
            throw new RepscopeException($"{file}: cannot load the weights of {Info.Architecture} ({e.Message})");
        }
        model.eval();
        return model;
    }

    /// <summary>The test examples the run was evaluated on, normalised as in training; checked against the recorded fingerprint.</summary>
    public ImageDataset LoadTestSet(IProgressReporter? progress = null)
    {
        var norm = new Normalisation(Info.Normalisation.Mean, Info.Normalisation.Std);
        var test = DataSets.LoadTest(DataSpecOf(Info.Config), norm, progress);
        try
        {
            CheckSame(Path, "test set", Info.TestSet, test);
        }
        catch
        {
            test.Dispose();
            throw;
        }
        return test;
    }

    public long[] TestLabels() => Npy.Read(System.IO.Path.Combine(Path, LabelsFile)).ToInt64();
    public long[] TestPredictions() => Npy.Read(System.IO.Path.Combine(Path, PredictionsFile)).ToInt64();
    /// <summary>Softmax outputs, float32 [n, classes].</summary>
    public NdArray TestProbabilities() => Npy.Read(System.IO.Path.Combine(Path, ProbabilitiesFile));

    /// <summary>The data specification that reloads a run's data (same folder, same subsets).</summary>
    public static DataSpec DataSpecOf(RunConfig c)
    {
        var (name, _) = DataSpec.ParseNameAndPath(c.Data);
        if (c.DataSource == "test-split-only") { name = DataName.FashionMnistSmall; }
        return new DataSpec
        {
            Name = name,
            Path = string.IsNullOrEmpty(c.DataPath) ? null : c.DataPath,
            TrainFraction = c.RequestedTrainFraction,
            TrainExamples = c.RequestedTrainExamples,
            TrainExamplesCap = c.TrainExamplesCap,
            TestExamples = c.TestExamples,
            Seed = c.Seed,
            ImageSize = c.ImageSize,
            Cifar100Labels = c.Cifar100Labels == "coarse" ? Cifar100Labels.Coarse : Cifar100Labels.Fine,
        };
    }

    public static DataSetInfo Describe(ImageDataset d) => new()
    {
        Data = d.Name, Count = d.Count, Classes = d.Classes, ClassNames = d.ClassNames,
        Channels = d.Channels, Height = d.Height, Width = d.Width, Fingerprint = d.Fingerprint,
    };

    internal static void CheckSameData(string dir, RunInfo info, DataSplits data)
    {
        CheckSame(dir, "training set", info.TrainSet, data.Train);
        CheckSame(dir, "test set", info.TestSet, data.Test);
    }

    private static void CheckSame(string dir, string what, DataSetInfo recorded, ImageDataset loaded)
    {
        if (recorded.Fingerprint != loaded.Fingerprint)
        {
            throw new RepscopeException($"{dir}: the {what} found now ({loaded.Count} examples, fingerprint {loaded.Fingerprint}) is not the one the run used ({recorded.Count} examples, fingerprint {recorded.Fingerprint})");
        }
    }
}
