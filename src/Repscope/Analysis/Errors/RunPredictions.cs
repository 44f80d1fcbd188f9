using System.Text.Json;
using Repscope.Interop;

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
        string runJson = System.IO.Path.Combine(dir, "run.json");
        if (!File.Exists(runJson)) { throw new RepscopeException($"{name}: no run.json (not a run directory)"); }
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(runJson));
            root = doc.RootElement.Clone();
        }
        catch (JsonException e) { throw new RepscopeException($"{runJson}: not valid JSON: {e.Message}"); }
        if (root.ValueKind != JsonValueKind.Object) { throw new RepscopeException($"{runJson}: expected a JSON object"); }
        string state = root.TryGetProperty("state", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString()! : "(missing)";
        if (state != "finished")
        {
            throw new RepscopeException($"{name}: unfinished run (run.json state is '{state}', not 'finished')");
        }
        if (!root.TryGetProperty("testSet", out var testSet) || testSet.ValueKind != JsonValueKind.Object)
        {
            throw new RepscopeException($"{runJson}: no testSet");
        }
        string fingerprint = testSet.TryGetProperty("fingerprint", out var f) && f.ValueKind == JsonValueKind.String
            ? f.GetString()! : throw new RepscopeException($"{runJson}: testSet has no fingerprint");
        if (!testSet.TryGetProperty("classes", out var cl) || !cl.TryGetInt32(out int classes) || classes < 1)
        {
            throw new RepscopeException($"{runJson}: testSet.classes is missing or not a positive integer");
        }
        IReadOnlyList<string> classNames = testSet.TryGetProperty("classNames", out var cn) && cn.ValueKind == JsonValueKind.Array
            ? cn.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText()).ToList()
            : Enumerable.Range(0, classes).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        if (classNames.Count != classes)
        {
            throw new RepscopeException($"{runJson}: testSet has {classes} classes but {classNames.Count} class names");
        }

        long[] labels = ReadVector(System.IO.Path.Combine(dir, "test_labels.npy"), name);
        long[] predictions = ReadVector(System.IO.Path.Combine(dir, "test_predictions.npy"), name);
        if (predictions.Length != labels.Length)
        {
            throw new RepscopeException($"{name}/test_predictions.npy: {predictions.Length} predictions for {labels.Length} labels");
        }
        if (testSet.TryGetProperty("count", out var count) && count.TryGetInt64(out long n) && n != labels.Length)
        {
            throw new RepscopeException($"{name}/test_labels.npy: {labels.Length} labels, run.json says the test set has {n} examples");
        }
        CheckRange(labels, classes, $"{name}/test_labels.npy", "label");
        CheckRange(predictions, classes, $"{name}/test_predictions.npy", "prediction");
        string? architecture = root.TryGetProperty("architecture", out var arch) && arch.ValueKind == JsonValueKind.String ? arch.GetString() : null;
        return new RunPredictions(name, fingerprint, classNames, labels, predictions) { Architecture = architecture };
    }

    private static long[] ReadVector(string path, string run)
    {
        if (!File.Exists(path)) { throw new RepscopeException($"{run}: {System.IO.Path.GetFileName(path)} is missing"); }
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
