using Repscope.Data;
using Repscope.Models;
using Repscope.Training;

namespace Repscope.Workflows;

/// <summary>
/// A finished run opened for analysis: its model and (the first N of) the test examples it was evaluated on, as an
/// <see cref="IActivationSource"/> over the taps of one <see cref="TapSet"/>.
/// </summary>
public sealed class RunSource : IActivationSource
{
    // The taps' memory, reused by every batch of every pass (Activations.Stream copies each batch's taps into it).
    private readonly TapBuffers _buffers = new();

    private RunSource(string run, RunDirectory directory, ResNet model, ImageDataset data, TapSet taps)
    {
        Path = run;
        Name = System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(run)));
        Directory = directory;
        Model = model;
        Data = data;
        Taps = taps;
        Layers = model.TapNames(taps);
    }

    /// <summary>Validates <paramref name="options"/>, then opens the run with its first <see cref="StreamOptions.Examples"/> test examples and the taps of <see cref="StreamOptions.Taps"/>.</summary>
    public RunSource(string run, StreamOptions options) : this(run, Validated(options).Examples, options.Taps) { }

    private RunSource(string run, int? examples, TapSet taps) : this(run, RunDirectory.Open(run), examples, taps) { }

    private RunSource(string run, RunDirectory directory, int? examples, TapSet taps)
        : this(run, directory, directory.LoadModel(), FirstExamples(directory.LoadTestSet(), examples), taps) { }

    /// <summary>The run with all its test examples.</summary>
    public static RunSource Open(string run, TapSet taps = TapSet.Blocks) => new(run, examples: null, taps);

    public string Path { get; }
    public string Name { get; }
    public RunDirectory Directory { get; }
    public ResNet Model { get; }
    /// <summary>The first N test examples, in test-set order (all when N is null or at least the test set's size).</summary>
    public ImageDataset Data { get; }
    public TapSet Taps { get; }
    public IReadOnlyList<string> Layers { get; }
    public string Architecture => Model.Architecture;
    public long Examples => Data.Count;

    public ActivationPass Pass(long start, long count, int batchSize, IProgressReporter progress) => onBatch =>
    {
        if (start == 0 && count == Data.Count)
        {
            Activations.Stream(Model, Data, batchSize, Taps, onBatch, progress, _buffers);
            return;
        }
        using var part = Data.Subset(Enumerable.Range(0, (int)count).Select(i => start + i).ToArray());
        Activations.Stream(Model, part, batchSize, Taps, onBatch, progress, _buffers);
    };

    /// <summary>A pass over all the examples in the order of a shuffle drawn from <paramref name="seed"/>.</summary>
    public ActivationPass ShuffledPass(long seed, int batchSize, IProgressReporter progress) => onBatch =>
    {
        using var shuffled = Data.Subset(Subsets.Shuffled(Data.Count, seed));
        Activations.Stream(Model, shuffled, batchSize, Taps, onBatch, progress, _buffers);
    };

    public void Dispose()
    {
        _buffers.Dispose();
        Model.Dispose();
        Data.Dispose();
    }

    private static StreamOptions Validated(StreamOptions options)
    {
        options.Validate();
        return options;
    }

    private static ImageDataset FirstExamples(ImageDataset test, int? examples)
    {
        if (examples > test.Count)
        {
            long count = test.Count;
            test.Dispose();
            throw new RepscopeException($"{RepscopeException.Option("examples")} {examples} asked for, but the test set has only {count}");
        }
        if (examples is null || examples == test.Count) { return test; }
        using (test) { return test.Subset(Enumerable.Range(0, examples.Value).Select(i => (long)i).ToArray()); }
    }
}

/// <summary>Opens a run directory or an ONNX model (a file ending in .onnx) as an <see cref="IActivationSource"/>.</summary>
public static class ActivationSources
{
    /// <summary>
    /// Is <paramref name="path"/> an ONNX model rather than a run directory? A file is taken for a model (whatever its
    /// name), except one that is certainly not: a .npy, an .npz, a PyTorch file or a pickle is refused here with one line
    /// that says what it is, before any option about a model's inputs is checked.
    /// </summary>
    public static bool IsOnnx(string path)
    {
        if (path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase)) { return true; }
        if (!File.Exists(path)) { return false; }
        if (Interop.FileKind.ArraysNotModel(path) is { } what) { throw new RepscopeException($"{path}: {what}"); }
        return true;
    }

    /// <summary>
    /// A run directory (its first <see cref="StreamOptions.Examples"/> test examples, taps of <see cref="StreamOptions.Taps"/>)
    /// or an ONNX model (inputs from <paramref name="onnxInputs"/>, taps <paramref name="onnxTaps"/> or the default set).
    /// </summary>
    public static IActivationSource Open(string path, StreamOptions options, OnnxInputSpec? onnxInputs, IReadOnlyList<string>? onnxTaps,
                                         IProgressReporter? progress = null)
    {
        if (!IsOnnx(path)) { return new RunSource(path, options); }
        if (onnxInputs is null) { throw new RepscopeException($"{path}: an ONNX model needs inputs (.npy files or a data set)"); }
        var model = OnnxModel.Open(path, onnxTaps);
        try
        {
            var inputs = OnnxInputs.Resolve(model.Graph, onnxInputs with { Examples = onnxInputs.Examples ?? options.Examples }, progress);
            return new OnnxSource(model, inputs, onnxTaps is null);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
