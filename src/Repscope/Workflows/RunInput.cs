using Repscope.Data;
using Repscope.Models;
using Repscope.Training;

namespace Repscope.Workflows;

/// <summary>A finished run opened for analysis: its model and (the first N of) the test examples it was evaluated on.</summary>
internal sealed class RunInput : IDisposable
{
    private RunInput(RunDirectory directory, ResNet model, ImageDataset data)
    {
        Directory = directory;
        Model = model;
        Data = data;
    }

    public RunDirectory Directory { get; }
    public ResNet Model { get; }
    /// <summary>The first N test examples, in test-set order (all when N is null or at least the test set's size).</summary>
    public ImageDataset Data { get; }

    /// <summary>Validates <paramref name="options"/>, then opens the run with its first <see cref="StreamOptions.Examples"/> test examples.</summary>
    public static RunInput Open(string run, StreamOptions options)
    {
        options.Validate();
        return Open(run, options.Examples);
    }

    public static RunInput Open(string run, int? examples = null)
    {
        var dir = RunDirectory.Open(run);
        var model = dir.LoadModel();
        return new RunInput(dir, model, FirstExamples(dir.LoadTestSet(), examples));
    }

    public void Dispose()
    {
        Model.Dispose();
        Data.Dispose();
    }

    private static ImageDataset FirstExamples(ImageDataset test, int? examples)
    {
        if (examples is null || examples >= test.Count) { return test; }
        using (test) { return test.Subset(Enumerable.Range(0, examples.Value).Select(i => (long)i).ToArray()); }
    }
}
