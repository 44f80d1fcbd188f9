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

    /// <summary>Trainable parameters of the model, counted from the shape (equals <c>ResNet.ParameterCount</c>).</summary>
    public static long ParameterCount(int depth, double width, bool residual, int classes, int inChannels)
    {
        CheckDepthAndWidth(depth, width);
        int[] c = StageChannels(width);
        long Conv(long k, long cin, long cout) => k * k * cin * cout;
        long total = Conv(3, inChannels, c[0]) + 2L * c[0];
        int cin = c[0];
        for (int stage = 0; stage < 3; stage++)
        {
            for (int b = 0; b < BlocksPerStage(depth); b++)
            {
                total += Conv(3, cin, c[stage]) + 2L * c[stage] + Conv(3, c[stage], c[stage]) + 2L * c[stage];
                if (residual && b == 0 && (stage > 0 || cin != c[stage])) { total += Conv(1, cin, c[stage]) + 2L * c[stage]; }
                cin = c[stage];
            }
        }
        return total + (long)c[2] * classes + classes;
    }

    /// <summary>
    /// Bytes that training needs, estimated before anything is allocated: float32 weights, gradients, momentum and a
    /// copy (16 bytes per parameter), plus the activations kept for the backward pass at <paramref name="batchSize"/>
    /// (the stem's 3 tensors and 7 per residual block, 9 with a projection, at each stage's resolution). An estimate
    /// of the order of magnitude, meant to refuse a model that cannot fit before it takes the machine's memory.
    /// </summary>
    public static (long Parameters, long Activations) TrainingBytes(int depth, double width, bool residual, int classes, int inChannels,
                                                                      int height, int imageWidth, int batchSize)
    {
        long parameters = 16L * ParameterCount(depth, width, residual, classes, inChannels);
        int[] c = StageChannels(width);
        double perImage = 3.0 * c[0] * height * imageWidth;
        for (int stage = 0; stage < 3; stage++)
        {
            double pixels = Math.Ceiling(height / Math.Pow(2, stage)) * Math.Ceiling(imageWidth / Math.Pow(2, stage));
            perImage += (7.0 * BlocksPerStage(depth) + (stage > 0 && residual ? 2 : 0)) * c[stage] * pixels;
        }
        double activations = 4.0 * batchSize * perImage;
        return (parameters, activations >= long.MaxValue ? long.MaxValue : (long)activations);
    }

    /// <summary>Memory this process can still use: /proc/meminfo's MemAvailable on Linux, else what the runtime reports.</summary>
    public static long AvailableMemoryBytes()
    {
        try
        {
            if (OperatingSystem.IsLinux())
            {
                foreach (string line in File.ReadLines("/proc/meminfo"))
                {
                    if (!line.StartsWith("MemAvailable:", StringComparison.Ordinal)) { continue; }
                    var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (parts.Length >= 2 && long.TryParse(parts[1], out long kb)) { return Math.Min(kb * 1024, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes); }
                }
            }
        }
        catch (IOException) { }
        return GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
    }
}
