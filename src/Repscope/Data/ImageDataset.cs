using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Data;

/// <summary>
/// Normalised images in memory: <see cref="Images"/> is [N, C, H, W] float32, normalised with
/// <see cref="Normalisation"/>; <see cref="Labels"/> in 0..Classes-1. <see cref="Fingerprint"/>
/// identifies the raw pixels and labels (not the normalisation), so two runs can check they saw
/// the same examples.
/// </summary>
public sealed class ImageDataset : IDisposable
{
    private readonly RawImages _raw;

    public ImageDataset(string name, RawImages raw, int classes, IReadOnlyList<string> classNames, Normalisation normalisation)
    {
        if (classNames.Count != classes) { throw new ArgumentException($"{classNames.Count} class names for {classes} classes"); }
        if (normalisation.Mean.Length != raw.Channels) { throw new ArgumentException("normalisation has the wrong number of channels"); }
        _raw = raw;
        Name = name;
        Classes = classes;
        ClassNames = classNames;
        Normalisation = normalisation;
        Fingerprint = raw.Fingerprint();
        Images = Normalise(raw, normalisation);
    }

    public string Name { get; }
    public Tensor Images { get; }
    public long[] Labels => _raw.Labels;
    public int Classes { get; }
    public IReadOnlyList<string> ClassNames { get; }
    public string Fingerprint { get; }
    public Normalisation Normalisation { get; }
    public long Count => _raw.Count;
    public int Channels => _raw.Channels;
    public int Height => _raw.Height;
    public int Width => _raw.Width;
    internal RawImages Raw => _raw;

    /// <summary>The examples at <paramref name="indices"/> (in that order), same normalisation.</summary>
    public ImageDataset Subset(long[] indices) => new(Name, _raw.Select(indices), Classes, ClassNames, Normalisation);

    /// <summary>How many examples of each class.</summary>
    public long[] ClassCounts()
    {
        var counts = new long[Classes];
        foreach (long l in Labels) { counts[l]++; }
        return counts;
    }

    private static Tensor Normalise(RawImages raw, Normalisation norm)
    {
        using var scope = NewDisposeScope();
        using var byteRange = 255.0.ToScalar();
        var t = tensor(raw.Pixels, dtype: ScalarType.Byte)
            .reshape(raw.Count, raw.Channels, raw.Height, raw.Width)
            .to_type(ScalarType.Float32).div_(byteRange);
        var mean = tensor(norm.Mean.Select(m => (float)m).ToArray()).reshape(1, raw.Channels, 1, 1);
        var std = tensor(norm.Std.Select(s => (float)s).ToArray()).reshape(1, raw.Channels, 1, 1);
        return t.sub_(mean).div_(std).contiguous().MoveToOuterDisposeScope();
    }

    public void Dispose() => Images.Dispose();
}
