using System.Security.Cryptography;

namespace Repscope.Data;

/// <summary>
/// Labelled images as they come from a file: unsigned bytes in [N, C, H, W] order (C order),
/// one label per image. Readers produce these; <see cref="ImageDataset"/> normalises them.
/// </summary>
public sealed class RawImages
{
    public RawImages(byte[] pixels, long[] labels, int channels, int height, int width)
    {
        long per = (long)channels * height * width;
        if (per <= 0) { throw new ArgumentException($"bad image shape {channels}x{height}x{width}"); }
        if (pixels.LongLength != per * labels.LongLength)
        {
            throw new ArgumentException($"{pixels.LongLength} pixel bytes do not make {labels.LongLength} images of {channels}x{height}x{width}");
        }
        Pixels = pixels;
        Labels = labels;
        Channels = channels;
        Height = height;
        Width = width;
    }

    public byte[] Pixels { get; }
    public long[] Labels { get; }
    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public long Count => Labels.LongLength;
    public long PixelsPerImage => (long)Channels * Height * Width;

    /// <summary>The images at <paramref name="indices"/>, in that order.</summary>
    public RawImages Select(IReadOnlyList<long> indices)
    {
        long per = PixelsPerImage;
        var pixels = new byte[per * indices.Count];
        var labels = new long[indices.Count];
        for (int i = 0; i < indices.Count; i++)
        {
            long k = indices[i];
            if (k < 0 || k >= Count) { throw new ArgumentOutOfRangeException(nameof(indices), $"index {k} outside 0..{Count - 1}"); }
            Array.Copy(Pixels, k * per, pixels, i * per, per);
            labels[i] = Labels[k];
        }
        return new RawImages(pixels, labels, Channels, Height, Width);
    }

    /// <summary>Hex SHA-256 (first 16 bytes) of the shape, the raw pixels and the labels.</summary>
    public string Fingerprint()
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> header = stackalloc byte[24];
        BitConverter.TryWriteBytes(header[..8], Count);
        BitConverter.TryWriteBytes(header[8..12], Channels);
        BitConverter.TryWriteBytes(header[12..16], Height);
        BitConverter.TryWriteBytes(header[16..20], Width);
        sha.AppendData(header);
        sha.AppendData(Pixels);
        var labelBytes = new byte[Labels.Length * sizeof(long)];
        Buffer.BlockCopy(Labels, 0, labelBytes, 0, labelBytes.Length);
        sha.AppendData(labelBytes);
        return Convert.ToHexStringLower(sha.GetHashAndReset().AsSpan(0, 16));
    }

    /// <summary>Checks every label lies in 0..classes-1; <paramref name="source"/> names the file in the error.</summary>
    public void CheckLabels(int classes, string source)
    {
        for (long i = 0; i < Labels.LongLength; i++)
        {
            if (Labels[i] < 0 || Labels[i] >= classes)
            {
                throw new RepscopeException($"{source}: label {Labels[i]} of example {i} is outside 0..{classes - 1}");
            }
        }
    }

    /// <summary>Per-channel mean and standard deviation of the pixels scaled to [0, 1].</summary>
    public Normalisation Statistics()
    {
        var mean = new double[Channels];
        var std = new double[Channels];
        long plane = (long)Height * Width;
        for (int c = 0; c < Channels; c++)
        {
            double sum = 0, sumSq = 0;
            for (long n = 0; n < Count; n++)
            {
                long start = n * PixelsPerImage + c * plane;
                long s = 0, sq = 0;
                for (long j = start; j < start + plane; j++) { int v = Pixels[j]; s += v; sq += v * v; }
                sum += s; sumSq += sq;
            }
            double count = (double)Count * plane * 255.0;
            double m = sum / count;
            double var = sumSq / (count * 255.0) - m * m;
            mean[c] = m;
            std[c] = Math.Sqrt(Math.Max(var, 1e-12));
        }
        return new Normalisation(mean, std);
    }
}

/// <summary>Per-channel normalisation x' = (x / 255 - mean) / std, recorded in every run.</summary>
public sealed record Normalisation(double[] Mean, double[] Std)
{
    public bool SameAs(Normalisation other, double tolerance = 1e-9) =>
        Mean.Length == other.Mean.Length && Std.Length == other.Std.Length &&
        Mean.Zip(other.Mean).All(p => Math.Abs(p.First - p.Second) <= tolerance) &&
        Std.Zip(other.Std).All(p => Math.Abs(p.First - p.Second) <= tolerance);
}
