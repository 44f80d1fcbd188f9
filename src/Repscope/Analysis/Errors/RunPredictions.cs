using Repscope.Interop;
using Repscope.Runs;

namespace Repscope.Analysis.Errors;

/// <summary>
/// What the error analysis needs from one finished run directory (docs/ARCHITECTURE.md, "The run
/// directory"): the test set's identity and class names, the true labels and the predicted class of
/// every test example.
/// </summary>
public sealed record RunPredictions(string Path, string Fingerprint, IReadOnlyList<string> ClassNames, long[] Labels, long[] Predictions)
{
    /// <summary>run.json's "architecture" (e.g. "ResNet-20 (width 1)"), when present.</summary>
    public string? Architecture { get; init; }

    public int Classes => ClassNames.Count;
    public int Examples => Labels.Length;

    /// <summary>Test accuracy: fraction of examples predicted correctly.</summary>
    public double Accuracy => Labels.Length == 0 ? double.NaN : Labels.Zip(Predictions).Count(p => p.First == p.Second) / (double)Labels.Length;

    /// <summary>
    /// Reads RUN/run.json, RUN/test_labels.npy and RUN/test_predictions.npy. A missing file, an
    /// unfinished run ("state" other than "finished") or inconsistent arrays are a
    /// <see cref="RepscopeException"/> naming the run and the problem.
    /// </summary>
    public static RunPredictions Read(string dir)
    {
        string name = dir.TrimEnd('/', '\\');
        if (!Directory.Exists(dir)) { throw new RepscopeException($"{name}: run directory not found"); }
        if (!File.Exists(System.IO.Path.Combine(dir, RunFormat.RunFile))) { throw new RepscopeException($"{name}: no {RunFormat.RunFile} (not a run directory)"); }
        var info = RunFormat.Read(dir);
        if (info.State != RunState.Finished)
        {
            throw new RepscopeException($"{name}: unfinished run (run.json state is 'training', not 'finished')");
        }
        var testSet = info.TestSet;
        long[] labels = ReadVector(dir, info, RunFormat.LabelsFile, name);
        long[] predictions = ReadVector(dir, info, RunFormat.PredictionsFile, name);
        if (predictions.Length != labels.Length)
        {
            throw new RepscopeException($"{name}/{RunFormat.PredictionsFile}: {predictions.Length} predictions for {labels.Length} labels");
        }
        if (testSet.Count != labels.Length)
        {
            throw new RepscopeException($"{name}/{RunFormat.LabelsFile}: {labels.Length} labels, run.json says the test set has {testSet.Count} examples");
        }
        CheckRange(labels, testSet.Classes, $"{name}/{RunFormat.LabelsFile}", "label");
        CheckRange(predictions, testSet.Classes, $"{name}/{RunFormat.PredictionsFile}", "prediction");
        return new RunPredictions(name, testSet.Fingerprint, testSet.ClassNames, labels, predictions) { Architecture = info.Architecture };
    }

    private static long[] ReadVector(string dir, RunInfo info, string file, string run)
    {
        if (!File.Exists(System.IO.Path.Combine(dir, file))) { throw new RepscopeException($"{run}: {file} is missing"); }
        string path = RunFormat.VerifiedPath(dir, info, file);
        var array = Npy.Read(path);
        if (array.Shape.Length != 1)
        {
            throw new RepscopeException($"{path}: expected a vector, got shape ({string.Join(", ", array.Shape)})");
        }
        if (array.DType.IsFloatingPoint())
        {
            throw new RepscopeException($"{path}: expected integer class indices, found {array.DType.NumpyName()} values");
        }
        return array.ToInt64();
    }

    private static void CheckRange(long[] values, int classes, string path, string what)
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (values[i] < 0 || values[i] >= classes)
            {
                throw new RepscopeException($"{path}: {what} {values[i]} at example {i} is not a class in 0..{classes - 1}");
            }
        }
    }
}
