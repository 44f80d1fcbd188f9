using Repscope.Data;
using Repscope.Interop;
using Repscope.Models;
using Repscope.Runs;

namespace Repscope.Training;

/// <summary>
/// A finished run directory opened for analysis (the format itself is <see cref="RunFormat"/>): <see cref="Open"/>
/// validates it, then the model, the test set it was evaluated on and its predictions can be loaded, each file checked
/// against the hash run.json records for it. A missing, half-written or changed run is a RepscopeException naming the
/// folder and the problem.
/// </summary>
public sealed class RunDirectory
{
    private RunDirectory(string path, RunInfo info)
    {
        Path = path;
        Info = info;
    }

    /// <summary>The run folder (full path).</summary>
    public string Path { get; }
    public RunInfo Info { get; }
    /// <summary>RUN/analysis, where analysis commands write (not created here).</summary>
    public string AnalysisPath => RunFormat.AnalysisPath(Path);
    /// <summary>Short name for tables and plot labels: the folder name.</summary>
    public string Name => System.IO.Path.GetFileName(Path);

    /// <summary>Opens a finished run; anything else is a RepscopeException naming the folder and the problem.</summary>
    public static RunDirectory Open(string path)
    {
        string dir = System.IO.Path.GetFullPath(path);
        return new RunDirectory(dir, RunFormat.ReadFinished(path));
    }

    /// <summary>The model with the run's final weights, in eval mode.</summary>
    public ResNet LoadModel()
    {
        var c = Info.Config;
        var model = ResNet.Cifar(c.Depth, c.Width, c.Residual, Info.TestSet.Classes, Info.TestSet.Channels);
        string file = RunFormat.VerifiedPath(Path, Info, RunFormat.ModelFile);
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

    /// <summary>
    /// The training examples the run was trained on (the same subset, normalised as in training, no augmentation);
    /// checked against the recorded fingerprint.
    /// </summary>
    public ImageDataset LoadTrainSet(IProgressReporter? progress = null)
    {
        var splits = DataSets.Load(DataSpecOf(Info.Config), progress);
        splits.Test.Dispose();   // only the training split is wanted; it is handed over, not copied
        try
        {
            CheckSame(Path, "training set", Info.TrainSet, splits.Train);
        }
        catch
        {
            splits.Train.Dispose();
            throw;
        }
        return splits.Train;
    }

    public long[] TestLabels() => Npy.Read(RunFormat.VerifiedPath(Path, Info, RunFormat.LabelsFile)).ToInt64();
    public long[] TestPredictions() => Npy.Read(RunFormat.VerifiedPath(Path, Info, RunFormat.PredictionsFile)).ToInt64();
    /// <summary>Softmax outputs, float32 [n, classes].</summary>
    public NdArray TestProbabilities() => Npy.Read(RunFormat.VerifiedPath(Path, Info, RunFormat.ProbabilitiesFile));

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
