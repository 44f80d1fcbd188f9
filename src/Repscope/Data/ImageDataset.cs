using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Data;

/// <summary>
/// Images in memory as their raw bytes: <see cref="Images"/> is [N, C, H, W] float32, normalised with
/// <see cref="Normalisation"/>, made on first use and then held (4 bytes per pixel beside the raw 1); a stream over
/// the examples takes <see cref="Batch"/> instead, which normalises only the rows it needs.
/// <see cref="Labels"/> in 0..Classes-1. <see cref="Fingerprint"/> identifies the raw pixels and labels (not the
/// normalisation), so two runs can check they saw the same examples.
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
    }

    private readonly Lock _imagesGate = new();
    private Tensor? _images;

    public string Name { get; }

    /// <summary>All the images normalised, [N, C, H, W] float32: made on first use (not in any dispose scope) and held until
    /// <see cref="Dispose"/>.</summary>
    public Tensor Images
    {
        get
        {
            lock (_imagesGate) { return _images ??= Normalise(_raw, Normalisation, 0, _raw.Count).DetachFromDisposeScope(); }
        }
    }

    /// <summary>Whether <see cref="Images"/> has been made (tests: a stream does not make it).</summary>
    internal bool HoldsImages
    {
        get { lock (_imagesGate) { return _images is not null; } }
    }

    /// <summary>
    /// Rows [<paramref name="start"/>, <paramref name="end"/>) of <see cref="Images"/>, the same values bit for bit (each
    /// pixel goes through the same float32 operations), in the caller's dispose scope: a view of <see cref="Images"/> when it
    /// is made, else normalised from the raw bytes of these rows alone, so that streaming the examples does not hold all of
    /// them as float32.
    /// </summary>
    public Tensor Batch(long start, long end)
    {
        if (start < 0 || end > Count || start > end) { throw new ArgumentOutOfRangeException(nameof(end), $"rows [{start}, {end}) outside 0..{Count}"); }
        lock (_imagesGate)
        {
            if (_images is not null) { return _images[TensorIndex.Slice(start, end)]; }
        }
        return Normalise(_raw, Normalisation, start, end - start);
    }
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

    /// <summary>Examples [<paramref name="start"/>, start + <paramref name="count"/>) normalised, in the caller's dispose scope.</summary>
    private static Tensor Normalise(RawImages raw, Normalisation norm, long start, long count)
    {
        using var scope = NewDisposeScope();
        using var byteRange = 255.0.ToScalar();
        var bytes = empty([count, raw.Channels, raw.Height, raw.Width], ScalarType.Byte);
        CopyPixels(raw.Pixels, start * raw.PixelsPerImage, bytes);
        var t = bytes.to_type(ScalarType.Float32).div_(byteRange);
        var mean = tensor(norm.Mean.Select(m => (float)m).ToArray()).reshape(1, raw.Channels, 1, 1);
        var std = tensor(norm.Std.Select(s => (float)s).ToArray()).reshape(1, raw.Channels, 1, 1);
        return t.sub_(mean).div_(std).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Copies pixels from <paramref name="offset"/> on into <paramref name="into"/>'s storage (Tensor.bytes spans at most 2 GB: in parts).</summary>
    private static void CopyPixels(byte[] pixels, long offset, Tensor into)
    {
        const long Part = 1L << 30;
        long total = into.NumberOfElements;
        var flat = into.view(-1);
        for (long at = 0; at < total; at += Part)
        {
            long n = Math.Min(Part, total - at);
            using var part = flat.narrow(0, at, n);
            pixels.AsSpan().Slice(checked((int)(offset + at)), (int)n).CopyTo(part.bytes);
        }
    }

    public void Dispose()
    {
        lock (_imagesGate)
        {
            _images?.Dispose();
            _images = null;
        }
    }
}
