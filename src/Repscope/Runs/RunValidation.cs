using System.Globalization;
using Repscope.Models;

namespace Repscope.Runs;

/// <summary>
/// Every check run.json must pass, on read and on write: no null where a value is required, numbers in range, lists
/// that agree with each other. A failure is a RepscopeException "FILE: FIELD ..." naming the field by its JSON path.
/// </summary>
internal static class RunValidation
{
    public static void Check(RunInfo info, string file)
    {
        void Fail(string field, string problem) => throw new RepscopeException($"{file}: {field} {problem}");
        T Required<T>(T? value, string field) where T : class => value ?? throw new RepscopeException($"{file}: {field} is missing or null");

        if (info.Format != RunFormat.Version) { Fail("format", $"is '{info.Format}', expected '{RunFormat.Version}'"); }
        if (info.State is not (RunState.Training or RunState.Finished)) { Fail("state", $"is '{Kebab(info.State)}', expected 'training' or 'finished'"); }

        var c = Required(info.Config, "config");
        CheckConfig(c, file);
        Required(info.Architecture, "architecture");
        if (info.ParameterCount < 0) { Fail("parameterCount", $"is negative ({info.ParameterCount})"); }
        var train = Required(info.TrainSet, "trainSet");
        var test = Required(info.TestSet, "testSet");
        CheckDataSet(train, "trainSet", file);
        CheckDataSet(test, "testSet", file);
        if (train.Channels != test.Channels) { Fail("testSet.channels", $"is {test.Channels}, trainSet.channels is {train.Channels}"); }
        if (train.Classes != test.Classes) { Fail("testSet.classes", $"is {test.Classes}, trainSet.classes is {train.Classes}"); }

        var norm = Required(info.Normalisation, "normalisation");
        var mean = Required(norm.Mean, "normalisation.mean");
        var std = Required(norm.Std, "normalisation.std");
        if (mean.Length != test.Channels || std.Length != test.Channels)
        {
            Fail("normalisation", $"has {mean.Length} means and {std.Length} standard deviations for {test.Channels} channels");
        }
        if (!mean.All(double.IsFinite)) { Fail("normalisation.mean", "holds a null or non-finite value"); }
        if (!std.All(s => s > 0 && double.IsFinite(s))) { Fail("normalisation.std", "must hold positive finite values"); }

        var epochs = Required(info.Epochs, "epochs");
        for (int i = 0; i < epochs.Count; i++)
        {
            var e = Required(epochs[i], $"epochs[{i}]");
            if (e.Epoch != i + 1) { Fail($"epochs[{i}].epoch", $"is {e.Epoch}, expected {i + 1} (epochs in order, none missing)"); }
        }
        if (epochs.Count > c.Epochs) { Fail("epochs", $"lists {epochs.Count} epochs, config.epochs is {c.Epochs}"); }
        if (info.State == RunState.Finished)
        {
            if (epochs.Count != c.Epochs) { Fail("epochs", $"lists {epochs.Count} epochs, but the run says finished after config.epochs = {c.Epochs}"); }
            if (info.FinalTestAccuracy is not { } acc || !(acc >= 0 && acc <= 1))
            {
                Fail("finalTestAccuracy", $"must be a number in [0, 1] for a finished run, got {Text(info.FinalTestAccuracy)}");
            }
        }
        Required(info.Provenance, "provenance");
        Required(info.Provenance.Cpu, "provenance.cpu");                         // absent (older runs): ""
        Required(info.Provenance.KernelSettings, "provenance.kernelSettings");
        if (info.Provenance.Threads < 0) { Fail("provenance.threads", $"is negative ({info.Provenance.Threads})"); }
        var files = Required(info.Files, "files");
        foreach (var (name, hash) in files)
        {
            if (!RunFormat.FinishedFiles.Contains(name)) { Fail("files", $"names '{name}', not a file of a run ({string.Join(", ", RunFormat.FinishedFiles)})"); }
            if (hash is null || hash.Length != 64 || !hash.All(char.IsAsciiHexDigit)) { Fail($"files.{name}", "is not a SHA-256 in hex (64 digits)"); }
        }
    }

    private static void CheckConfig(RunConfig c, string file)
    {
        void Fail(string field, string problem) => throw new RepscopeException($"{file}: config.{field} {problem}");
        try { ResNetShape.CheckDepthAndWidth(c.Depth, c.Width); }
        catch (RepscopeException e) { throw new RepscopeException($"{file}: config: {e.Message}"); }
        if (c.Data is null) { Fail("data", "is missing or null"); }
        if (c.DataSource is null) { Fail("dataSource", "is missing or null"); }
        if (c.DataPath is null) { Fail("dataPath", "is missing or null"); }
        if (c.Cifar100Labels is not ("fine" or "coarse")) { Fail("cifar100Labels", $"is {Text(c.Cifar100Labels)}, expected 'fine' or 'coarse'"); }
        if (c.Schedule is null) { Fail("schedule", "is missing or null"); }
        if (!(c.TrainFraction > 0 && c.TrainFraction <= 1)) { Fail("trainFraction", $"must be in (0, 1], got {Text(c.TrainFraction)}"); }
        if (c.TrainExamples < 1) { Fail("trainExamples", $"must be at least 1, got {c.TrainExamples}"); }
        if (c.TrainSplitSize < c.TrainExamples) { Fail("trainSplitSize", $"is {c.TrainSplitSize}, fewer than trainExamples ({c.TrainExamples})"); }
        if (c.RequestedTrainFraction is { } f && !(f > 0 && f <= 1)) { Fail("requestedTrainFraction", $"must be in (0, 1], got {Text(f)}"); }
        if (c.RequestedTrainExamples is < 1) { Fail("requestedTrainExamples", $"must be at least 1, got {c.RequestedTrainExamples}"); }
        if (c.TrainExamplesCap is < 1) { Fail("trainExamplesCap", $"must be at least 1, got {c.TrainExamplesCap}"); }
        if (c.TestExamples is < 1) { Fail("testExamples", $"must be at least 1, got {c.TestExamples}"); }
        if (c.ImageSize < 4) { Fail("imageSize", $"must be at least 4, got {c.ImageSize}"); }
        if (c.Epochs < 1) { Fail("epochs", $"must be at least 1, got {c.Epochs}"); }
        if (c.BatchSize < 2) { Fail("batchSize", $"must be at least 2 (batch norm), got {c.BatchSize}"); }
        if (!(c.Lr > 0) || !double.IsFinite(c.Lr)) { Fail("lr", $"must be a positive number, got {Text(c.Lr)}"); }
        if (!(c.WeightDecay >= 0) || !double.IsFinite(c.WeightDecay)) { Fail("weightDecay", $"must be >= 0, got {Text(c.WeightDecay)}"); }
        if (!(c.Momentum >= 0 && c.Momentum < 1)) { Fail("momentum", $"must be in [0, 1), got {Text(c.Momentum)}"); }
        if (!(c.WarmupEpochs >= 0) || !double.IsFinite(c.WarmupEpochs)) { Fail("warmupEpochs", $"must be >= 0, got {Text(c.WarmupEpochs)}"); }
        if (c.CropPadding < 0) { Fail("cropPadding", $"must be >= 0, got {c.CropPadding}"); }
    }

    private static void CheckDataSet(DataSetInfo d, string field, string file)
    {
        void Fail(string f, string problem) => throw new RepscopeException($"{file}: {field}.{f} {problem}");
        if (d.Data is null) { Fail("data", "is missing or null"); }
        if (d.Count < 1) { Fail("count", $"must be at least 1, got {d.Count}"); }
        if (d.Classes < 2) { Fail("classes", $"must be at least 2, got {d.Classes}"); }
        if (d.ClassNames is null) { Fail("classNames", "is missing or null"); }
        if (d.ClassNames!.Count != d.Classes) { Fail("classNames", $"lists {d.ClassNames.Count} names for {d.Classes} classes"); }
        if (d.ClassNames.Any(n => n is null)) { Fail("classNames", "holds a null name"); }
        if (d.Channels < 1) { Fail("channels", $"must be at least 1, got {d.Channels}"); }
        if (d.Height < 1 || d.Width < 1) { Fail("height", $"and width must be at least 1, got {d.Height} x {d.Width}"); }
        if (string.IsNullOrEmpty(d.Fingerprint)) { Fail("fingerprint", "is missing or empty"); }
    }

    private static string Kebab(RunState s) => s.ToString().ToLowerInvariant();

    private static string Text(object? value) => value switch
    {
        null => "null",
        double d when double.IsNaN(d) => "null",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => $"'{value}'",
    };
}
