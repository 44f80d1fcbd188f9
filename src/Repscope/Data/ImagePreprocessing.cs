using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Data;

/// <summary>
/// How images of a data set become the float32 [N, C, H, W] input of a model trained elsewhere, in this order:
/// pixels (0..255) times <see cref="Scale"/>; channels converted (1 to 3: repeated; 3 to 1: mean of the three);
/// resized (bilinear, corners not aligned, as torchvision's Resize without antialiasing) to <see cref="Height"/> x
/// <see cref="Width"/>; then (x - mean) / std per channel. Null size or channels: keep the data set's.
/// </summary>
/// <param name="Mean">One value, or one per channel (after conversion); null: 0.</param>
/// <param name="Std">One value, or one per channel; null: 1.</param>
public sealed record ImagePreprocessing(int? Height = null, int? Width = null, int? Channels = null, double Scale = 1.0 / 255,
                                        IReadOnlyList<double>? Mean = null, IReadOnlyList<double>? Std = null)
{
    public void Validate()
    {
        if (Height is < 1 || Width is < 1) { throw new RepscopeException($"resize: the size must be positive, got {Height}x{Width}"); }
        if (Channels is not (null or 1 or 3)) { throw new RepscopeException($"channels: 1 or 3, got {Channels}"); }
        if (!(Scale > 0) || double.IsInfinity(Scale)) { throw new RepscopeException($"scale: must be a positive number, got {Scale}"); }
        if (Std?.Any(s => !(s > 0)) == true) { throw new RepscopeException($"std: every value must be positive, got {string.Join(",", Std)}"); }
    }

    /// <summary>The preprocessed images as a float32 tensor [N, C, H, W].</summary>
    public Tensor Apply(RawImages raw)
    {
        Validate();
        using var scope = NewDisposeScope();
        using var scale = Scale.ToScalar();
        var x = tensor(raw.Pixels, dtype: ScalarType.Byte).reshape(raw.Count, raw.Channels, raw.Height, raw.Width)
            .to_type(ScalarType.Float32).mul_(scale);
        int channels = Channels ?? raw.Channels;
        if (channels != raw.Channels)
        {
            x = channels == 3 ? x.expand(-1, 3, -1, -1).contiguous() : x.mean([1], keepdim: true);
        }
        if ((Height ?? raw.Height) != raw.Height || (Width ?? raw.Width) != raw.Width)
        {
            x = nn.functional.interpolate(x, [Height ?? raw.Height, Width ?? raw.Width], mode: InterpolationMode.Bilinear, align_corners: false);
        }
        x = x.sub(PerChannel(Mean, 0.0, channels, "mean")).div(PerChannel(Std, 1.0, channels, "std"));
        return x.contiguous().MoveToOuterDisposeScope();
    }

    private static Tensor PerChannel(IReadOnlyList<double>? values, double fallback, int channels, string what)
    {
        var v = values ?? [fallback];
        if (v.Count != 1 && v.Count != channels) { throw new RepscopeException($"{what}: give 1 or {channels} values (one per channel), got {v.Count}"); }
        var full = v.Count == 1 ? Enumerable.Repeat(v[0], channels).ToArray() : v.ToArray();
        return tensor(full.Select(d => (float)d).ToArray()).reshape(1, channels, 1, 1);
    }
}
