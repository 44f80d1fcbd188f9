using static TorchSharp.torch;

namespace Repscope.Models;

/// <summary>
/// A model with a fixed list of examples that gives named taps over them, whatever runs it: a trained run (TorchSharp
/// ResNet on its test set, Workflows.RunSource) or an ONNX model (ONNX Runtime on given inputs, <see cref="OnnxSource"/>).
/// </summary>
public interface IActivationSource : IDisposable
{
    /// <summary>The run folder or model file, as given.</summary>
    string Path { get; }

    /// <summary>Short name for file names: the folder or file name.</summary>
    string Name { get; }

    string Architecture { get; }

    /// <summary>The taps, in forward order.</summary>
    IReadOnlyList<string> Layers { get; }

    /// <summary>Which tap set <see cref="Layers"/> is (ONNX models: Blocks for the default taps, All for taps chosen by name).</summary>
    TapSet Taps { get; }

    long Examples { get; }

    /// <summary>A pass over examples [start, start + count) in batches; taps are [b, features] float32.</summary>
    ActivationPass Pass(long start, long count, int batchSize, IProgressReporter progress);
}

/// <summary>An ONNX model on given inputs.</summary>
/// <param name="defaultTaps">The taps are the model's default set (not chosen by name).</param>
public sealed class OnnxSource(OnnxModel model, OnnxInputs inputs, bool defaultTaps) : IActivationSource
{
    public string Path => model.Graph.Path;
    public string Name => System.IO.Path.GetFileNameWithoutExtension(model.Graph.Path);
    public string Architecture => model.Architecture;
    public IReadOnlyList<string> Layers => model.Taps;
    public TapSet Taps => defaultTaps ? TapSet.Blocks : TapSet.All;
    public long Examples => inputs.Examples;

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
