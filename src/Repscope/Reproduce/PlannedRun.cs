using System.Text.Json;

namespace Repscope.Reproduce;

/// <summary>What is on disk for one planned run.</summary>
public enum PlannedRunState
{
    /// <summary>Nothing usable: train from scratch.</summary>
    Missing,
    /// <summary>Training started (run.json says "training"): resume, from the last checkpoint if there is one.</summary>
    Partial,
    /// <summary>run.json says finished and every file it promises exists: reuse.</summary>
    Finished,
}

/// <summary>
/// Reads a run directory's state without loading anything heavy (the run-directory format of
/// docs/ARCHITECTURE.md), and checks that a run found on disk is the one the plan wants.
/// </summary>
public static class PlannedRun
{
    public const string RunFile = "run.json";
    public static readonly string[] FinishedFiles = ["model.pt", "test_labels.npy", "test_predictions.npy", "test_probabilities.npy"];

    public static PlannedRunState Inspect(string runDir, RunSpec spec)
    {
        string runJson = Path.Combine(runDir, RunFile);
        if (!File.Exists(runJson)) { return PlannedRunState.Missing; }

        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllText(runJson)); }
        catch (JsonException e) { throw new RepscopeException($"{runJson}: not valid JSON ({e.Message}); move the folder away to retrain it"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) { throw new RepscopeException($"{runJson}: not a run description (expected an object)"); }
            if (root.TryGetProperty("config", out var config) && config.ValueKind == JsonValueKind.Object) { CheckConfig(runJson, config, spec); }
            string? state = root.TryGetProperty("state", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
            if (state != "finished") { return PlannedRunState.Partial; }
            string? missing = FinishedFiles.FirstOrDefault(f => !File.Exists(Path.Combine(runDir, f)));
            if (missing is not null)
            {
                throw new RepscopeException($"{runDir}: run.json says finished but {missing} is missing; move the folder away to retrain it");
            }
            return PlannedRunState.Finished;
        }
    }

    private static void CheckConfig(string runJson, JsonElement config, RunSpec spec)
    {
        void Expect(string key, Func<JsonElement, bool> matches, object wanted)
        {
            if (config.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null && !matches(v))
            {
                throw new RepscopeException($"{runJson}: {key} is {v.GetRawText()}, the plan wants {wanted} for {spec.Name}; move the folder away or choose another --out");
            }
        }
        Expect("depth", v => v.ValueKind == JsonValueKind.Number && v.GetDouble() == spec.Depth, spec.Depth);
        Expect("width", v => v.ValueKind == JsonValueKind.Number && Math.Abs(v.GetDouble() - spec.Width) < 1e-9, spec.Width);
        Expect("residual", v => v.ValueKind is JsonValueKind.True or JsonValueKind.False && v.GetBoolean() == spec.Residual, spec.Residual);
        Expect("epochs", v => v.ValueKind == JsonValueKind.Number && v.GetDouble() == spec.Epochs, spec.Epochs);
        Expect("seed", v => v.ValueKind == JsonValueKind.Number && v.GetDouble() == spec.Seed, spec.Seed);
        if (spec.TrainExamples > 0)
        {
            // The trainer records what was asked for (requestedTrainExamples) and what it got (trainExamples).
            string key = config.TryGetProperty("requestedTrainExamples", out var req) && req.ValueKind == JsonValueKind.Number ? "requestedTrainExamples" : "trainExamples";
            Expect(key, v => v.ValueKind == JsonValueKind.Number && v.GetDouble() == spec.TrainExamples, spec.TrainExamples);
        }
    }
}
