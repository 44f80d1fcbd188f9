namespace Repscope.Models;

/// <summary>
/// The shape of the CIFAR ResNet family as plain arithmetic (no tensors, no libtorch): which depths and widths exist,
/// the channels of each stage. <see cref="ResNet"/> builds from it; the run format validates run.json with it.
/// </summary>
public static class ResNetShape
{
    /// <summary>Depth 6n+2 with n >= 1 and a positive, finite width; anything else is a RepscopeException naming the value.</summary>
    public static void CheckDepthAndWidth(int depth, double width)
    {
        if (depth < 8 || (depth - 2) % 6 != 0)
        {
            throw new RepscopeException($"depth {depth} is not 6n+2 with n >= 1 (use 8, 14, 20, 26, 32, 38, 44, 56, 62, 110, ...)");
        }
        if (!(width > 0) || double.IsInfinity(width)) { throw new RepscopeException($"width must be a positive number, got {width}"); }
    }

    /// <summary>Residual blocks per stage: n of depth 6n+2.</summary>
    public static int BlocksPerStage(int depth) => (depth - 2) / 6;

    /// <summary>Channels of a stage whose width-1 model has <paramref name="baseChannels"/>: round(base x width), at least 1.</summary>
    public static int Channels(int baseChannels, double width) =>
        Math.Max(1, (int)Math.Round(baseChannels * width, MidpointRounding.AwayFromZero));

    /// <summary>round(16w), round(32w), round(64w).</summary>
    public static int[] StageChannels(double width) => [Channels(16, width), Channels(32, width), Channels(64, width)];
}
