using Repscope.Runs;

namespace Repscope.Tests.Runs;

/// <summary>Valid run descriptions for tests that need a run folder without training one.</summary>
internal static class SampleRuns
{
    /// <summary>A run.json that passes validation: finished after all its epochs, or training with none done yet.</summary>
    public static RunInfo Info(RunState state = RunState.Finished, int depth = 8, double width = 1, bool residual = true, int epochs = 2,
                               int seed = 1, long? requestedTrainExamples = null, string[]? classNames = null, long testCount = 100,
                               string fingerprint = "f00d", string data = "fashion-mnist", double accuracy = 0.5)
    {
        classNames ??= ["a", "b", "c"];
        var testSet = new DataSetInfo
        {
            Data = data, Count = testCount, Classes = classNames.Length, ClassNames = classNames,
            Channels = 1, Height = 8, Width = 8, Fingerprint = fingerprint,
        };
        bool finished = state == RunState.Finished;
        return new RunInfo
        {
            State = state,
            Config = new RunConfig
            {
                Depth = depth, Width = width, Residual = residual, Data = data, DataPath = "/data", TrainFraction = 1,
                TrainExamples = requestedTrainExamples ?? 1000, TrainSplitSize = Math.Max(1000, requestedTrainExamples ?? 0),
                RequestedTrainExamples = requestedTrainExamples, Epochs = epochs, Lr = TrainingDefaults.Lr,
                WeightDecay = TrainingDefaults.WeightDecay, WarmupEpochs = TrainingDefaults.WarmupEpochs, Seed = seed,
            },
            Architecture = $"ResNet-{depth} (width {width})",
            ParameterCount = 1000,
            TrainSet = testSet with { Count = requestedTrainExamples ?? 1000, Fingerprint = "feed" },
            TestSet = testSet,
            Normalisation = new NormalisationInfo { Mean = [0.5], Std = [0.25] },
            Epochs = finished ? Enumerable.Range(1, epochs).Select(e => new EpochMetrics { Epoch = e, TestAccuracy = accuracy }).ToList() : [],
            FinalTestAccuracy = finished ? accuracy : null,
        };
    }
}
