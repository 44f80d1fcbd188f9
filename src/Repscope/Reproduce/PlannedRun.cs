using Repscope.Runs;

namespace Repscope.Reproduce;

/// <summary>
/// A planned run's state on disk, read through the one run format (<see cref="RunFormat"/>), and the check that a
/// run found on disk is the one the plan wants.
/// </summary>
public static class PlannedRun
{
    /// <summary>
    /// <see cref="RunState.Missing"/> (train), <see cref="RunState.Training"/> (resume) or <see cref="RunState.Finished"/>
    /// (reuse); a broken run or one with another configuration is a RepscopeException saying what to do.
    /// </summary>
    public static RunState Inspect(string runDir, RunSpec spec)
    {
        var status = RunFormat.Inspect(runDir);
        if (status.Info is { } info) { CheckConfig(Path.Combine(status.Path, RunFormat.RunFile), info.Config, spec); }
        if (status.State == RunState.Broken)
        {
            throw new RepscopeException($"{status.Problem}; move the folder away to retrain it");
        }
        return status.State;
    }

    private static void CheckConfig(string runJson, RunConfig config, RunSpec spec)
    {
        void Expect(string key, object actual, object wanted)
        {
            if (!Equals(actual, wanted))
            {
                throw new RepscopeException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"{runJson}: {key} is {actual}, the plan wants {wanted} for {spec.Name}; move the folder away or choose another {RepscopeException.Option("out")}"));
            }
        }
        Expect("depth", config.Depth, spec.Depth);
        Expect("width", Math.Abs(config.Width - spec.Width) < 1e-9 ? spec.Width : config.Width, spec.Width);
        Expect("residual", config.Residual, spec.Residual);
        Expect("epochs", config.Epochs, spec.Epochs);
        Expect("seed", config.Seed, spec.Seed);
        if (spec.TrainExamples > 0)
        {
            // The trainer records what was asked for (requestedTrainExamples) and what it got (trainExamples).
            if (config.RequestedTrainExamples is { } asked) { Expect("requestedTrainExamples", asked, (long)spec.TrainExamples); }
            else { Expect("trainExamples", config.TrainExamples, (long)spec.TrainExamples); }
        }
    }
}
