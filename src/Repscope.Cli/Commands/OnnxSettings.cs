using System.ComponentModel;
using System.Globalization;
using Repscope.Data;
using Repscope.Models;
using Spectre.Console.Cli;

namespace Repscope.Cli.Commands;

/// <summary>Options that feed an ONNX model (docs/onnx.md): input files or a data set with its preprocessing, and the taps.</summary>
public class OnnxInputSettings : CommandSettings
{
    [CommandOption("--input <FILE>")]
    [Description("ONNX models: X.npy (a model with one input) or NAME=X.npy per input (repeat the option); shape (n, ...), float32/float16/int64/int32.")]
    public string[] Inputs { get; init; } = [];

    [CommandOption("--data <NAME[:PATH]>")]
    [Description("ONNX image models: feed the test split of a data set (fashion-mnist, fashion-mnist-small, mnist, cifar10, cifar100, folder:PATH) instead of --input.")]
    public string? Data { get; init; }

    [CommandOption("--taps <LIST>")]
    [Description("ONNX models: comma-separated tensor names to tap (`repscope taps MODEL.onnx` lists them); default: the marked default set.")]
    public string? Taps { get; init; }

    [CommandOption("--resize <HxW>")]
    [Description("With --data: resize images (bilinear) to H x W or N x N; default: the model's fixed input size.")]
    public string? Resize { get; init; }

    [CommandOption("--channels <C>")]
    [Description("With --data: 1 or 3 channels (1 to 3 repeats, 3 to 1 averages); default: the model's fixed channel count.")]
    public int? Channels { get; init; }

    [CommandOption("--scale <S>")]
    [Description("With --data: pixel values 0..255 are multiplied by S before mean/std.")]
    [DefaultValue(1.0 / 255)]
    public double Scale { get; init; } = 1.0 / 255;

    [CommandOption("--mean <LIST>")]
    [Description("With --data: subtracted per channel after scaling (one value or one per channel, comma-separated); default 0.")]
    public string? Mean { get; init; }

    [CommandOption("--std <LIST>")]
    [Description("With --data: divides per channel after the mean (one value or one per channel); default 1.")]
    public string? Std { get; init; }

    /// <summary>The chosen taps, or null for the default set.</summary>
    internal IReadOnlyList<string>? TapList =>
        Taps is null ? null : Taps.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) is { Length: > 0 } t ? t
        : throw new RepscopeException("--taps: no tap names given");

    /// <summary>Where the ONNX model's inputs come from.</summary>
    internal OnnxInputSpec OnnxInputs(long? examples)
    {
        if (Inputs.Length > 0 && Data is not null) { throw new RepscopeException("give --input or --data, not both"); }
        if (Inputs.Length == 0 && Data is null) { throw new RepscopeException("an ONNX model needs --input X.npy (or NAME=X.npy per input) or --data NAME[:PATH]"); }
        if (Data is null && (Resize ?? Mean ?? Std) is not null || Data is null && Channels is not null)
        {
            throw new RepscopeException("--resize, --channels, --mean and --std apply to --data");
        }
        DataSpec? data = null;
        if (Data is not null)
        {
            var (name, path) = DataSpec.ParseNameAndPath(Data);
            data = new DataSpec { Name = name, Path = path };
        }
        var (h, w) = ParseSize(Resize);
        var pre = new ImagePreprocessing(h, w, Channels, Scale, Numbers("--mean", Mean), Numbers("--std", Std));
        try { pre.Validate(); }
        catch (RepscopeException e) { throw new RepscopeException("--" + e.Message); }
        return new OnnxInputSpec(Inputs.Length > 0 ? Inputs : null, data, pre, examples);
    }

    private static (int?, int?) ParseSize(string? text)
    {
        if (text is null) { return (null, null); }
        var parts = text.ToLowerInvariant().Split('x');
        if (parts.Length is 1 or 2 && parts.All(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0))
        {
            int h = int.Parse(parts[0], CultureInfo.InvariantCulture);
            return (h, parts.Length == 2 ? int.Parse(parts[1], CultureInfo.InvariantCulture) : h);
        }
        throw new RepscopeException($"--resize: expected HxW or N (e.g. 32x32), got '{text}'");
    }

    private static IReadOnlyList<double>? Numbers(string option, string? text) =>
        text?.Split(',', StringSplitOptions.TrimEntries)
            .Select(t => double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v
                         : throw new RepscopeException($"{option}: '{t}' is not a number")).ToList();
}
