using Repscope.Models;
using Repscope.Similarity;
using static TorchSharp.torch;

namespace Repscope.Workflows;

/// <summary>
/// Saved activations as an <see cref="IActivationSource"/>: an .npz with one array per layer, rows = examples (what
/// `repscope export` or numpy.savez writes). The arrays are chosen by the rules of `heatmap` (<see cref="CkaFiles.LoadNpz(string, IReadOnlyList{string}?, List{string}, List{string})"/>:
/// names or glob patterns, or every array except 1-D integer ones, skipped with a note) and held in memory;
/// a pass slices consecutive rows in file order, so the same activations give the same batches as the model they came from.
/// </summary>
public sealed class NpzSource : IActivationSource
{
    private readonly IReadOnlyList<CkaFiles.Layer> arrays;
    private readonly long[] labels;

    /// <summary>Loads the arrays of <paramref name="path"/> chosen by <paramref name="patterns"/> (null: the default rule), the first
    /// <see cref="StreamOptions.Examples"/> rows of each. What was skipped goes into <see cref="Notes"/>, rows that look class-sorted into <see cref="Warnings"/>.</summary>
    public NpzSource(string path, StreamOptions options, IReadOnlyList<string>? patterns = null, long maxNpzBytes = Interop.Npz.DefaultMaxTotalBytes)
    {
        options.Validate();
        Path = path;
        Name = System.IO.Path.GetFileNameWithoutExtension(path);
        var notes = new List<string>();
        var warnings = new List<string>();
        arrays = CkaFiles.LoadNpz(path, patterns, notes, warnings, maxNpzBytes);
        long rows = arrays[0].Data.shape[0];
        if (options.Examples > rows)
        {
            Dispose();
            throw new RepscopeException($"{path}: {RepscopeException.Option("examples")} {options.Examples} asked for, but its arrays have {rows} rows");
        }
        Examples = options.Examples ?? rows;
        labels = new long[Examples];
        (Notes, Warnings) = (notes, warnings);
    }

    public string Path { get; }
    public string Name { get; }
    /// <summary>The file's name: what the figures' titles call the model.</summary>
    public string Architecture => System.IO.Path.GetFileName(Path);
    public IReadOnlyList<string> Layers => arrays.Select(a => a.Name).ToList();
    /// <summary>Arrays chosen by name: <see cref="TapSet.All"/>, as for an ONNX model's taps chosen by name.</summary>
    public TapSet Taps => TapSet.All;
    public long Examples { get; }
    public IReadOnlyList<string> Notes { get; }
    public IReadOnlyList<string> Warnings { get; }

    public ActivationPass Pass(long start, long count, int batchSize, IProgressReporter progress) => onBatch =>
    {
        if (start < 0 || count < 0 || start + count > Examples) { throw new ArgumentOutOfRangeException(nameof(count)); }
        for (long first = start; first < start + count; first += batchSize)
        {
            long b = Math.Min(batchSize, start + count - first);
            using var scope = NewDisposeScope();
            var taps = arrays.Select(a => a.Data.narrow(0, first, b).reshape(b, -1)).ToList();
            onBatch(labels[(int)first..(int)(first + b)], taps);
        }
    };

    public void Dispose()
    {
        foreach (var a in arrays) { a.Data.Dispose(); }
    }
}
