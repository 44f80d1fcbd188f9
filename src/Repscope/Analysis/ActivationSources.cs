using Repscope.Data;
using Repscope.Models;
using Repscope.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Analysis;

/// <summary>
/// A model with a fixed list of examples that gives named taps over them, whatever runs it: a trained run (TorchSharp
/// ResNet on its test set) or an ONNX model (ONNX Runtime on given inputs).
/// </summary>
public interface IActivationSource : IDisposable
{
    /// <summary>The run folder or model file.</summary>
    string Path { get; }

    /// <summary>Short name for file names: the folder or file name.</summary>
    string Name { get; }

    string Architecture { get; }

    /// <summary>The taps, in forward order.</summary>
    IReadOnlyList<string> Layers { get; }

    long Examples { get; }

    /// <summary>A pass over examples [start, start + count) in batches; taps are [b, ...] float32.</summary>
    ActivationPass Pass(long start, long count, int batchSize, IProgressReporter progress);
}

/// <summary>Opens a run directory or an ONNX model (a file ending in .onnx) as an <see cref="IActivationSource"/>.</summary>
public static class ActivationSources
{
    /// <summary>Is <paramref name="path"/> an ONNX model rather than a run directory?</summary>
    public static bool IsOnnx(string path) => path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) || File.Exists(path);

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

/// <summary>A trained run on its test examples.</summary>
public sealed class RunSource : IActivationSource
{
    private readonly ResNet _model;
    private readonly ImageDataset _data;
    private readonly LayerSelection _selection;

    public RunSource(string run, StreamOptions options)
    {
        options.Validate();
        var dir = RunDirectory.Open(run);
        Path = run;
        Name = System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(run)));
        _model = dir.LoadModel();
        var test = dir.LoadTestSet();
        if (options.Examples is { } n && n < test.Count)
        {
            var first = test.Subset(Enumerable.Range(0, n).Select(i => (long)i).ToArray());
            test.Dispose();
            test = first;
        }
        _data = test;
        _selection = options.Taps;
        Layers = RunAnalyses.TapNames(_model, options.Taps);
    }

    public string Path { get; }
    public string Name { get; }
    public string Architecture => _model.Architecture;
    public IReadOnlyList<string> Layers { get; }
    public long Examples => _data.Count;

    public ActivationPass Pass(long start, long count, int batchSize, IProgressReporter progress) => onBatch =>
    {
        using var part = _data.Subset(Enumerable.Range(0, (int)count).Select(i => start + i).ToArray());
        RunAnalyses.Pass(_model, part, _selection, batchSize, progress)(onBatch);
    };

    public void Dispose()
    {
        _model.Dispose();
        _data.Dispose();
    }
}

/// <summary>An ONNX model on given inputs.</summary>
public sealed class OnnxSource(OnnxModel model, OnnxInputs inputs, bool defaultTaps) : IActivationSource
{
    public string Path => model.Graph.Path;
    public string Name => System.IO.Path.GetFileNameWithoutExtension(model.Graph.Path);
    public string Architecture => model.Architecture;
    public IReadOnlyList<string> Layers => model.Taps;
    public long Examples => inputs.Examples;

    /// <summary>The taps are the model's default set (not chosen by name).</summary>
    public bool DefaultTaps => defaultTaps;

    public OnnxModel Model => model;
    public OnnxInputs Inputs => inputs;

    public ActivationPass Pass(long start, long count, int batchSize, IProgressReporter progress) => onBatch =>
    {
        var part = inputs.Slice(start, count);
        model.Stream(part, batchSize, (first, taps) =>
        {
            long b = taps[0].shape[0];
            using var scope = NewDisposeScope();
            onBatch(part.Labels[(int)first..(int)(first + b)], taps.Select(t => t.reshape(b, -1)).ToList());
        }, progress);
    };

    public void Dispose() => model.Dispose();
}
