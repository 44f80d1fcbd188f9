using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Repscope.Interop;
using Repscope.Models;

namespace Repscope.Workflows;

/// <summary>What `repscope export` wrote: the taps (one array each, plus "labels" and "indices") for this many examples.</summary>
public sealed record ExportResult(string Run, IReadOnlyList<string> Taps, long Examples);

/// <summary>ACTS.json beside an ONNX model's export ACTS.npz: npz member name to tap name, and the arrays' shapes.</summary>
public sealed record OnnxExportResult(string Model, long Examples, int BatchSize, IReadOnlyDictionary<string, string> Members,
                                      IReadOnlyDictionary<string, long[]> Shapes, double Seconds);

/// <summary>`repscope export`: a run's (or an ONNX model's) activations for chosen examples as an .npz, for use anywhere (numpy).</summary>
public static partial class ExportWorkflow
{
    /// <summary>
    /// Writes the activations of the test examples <paramref name="indices"/> at every tap of <paramref name="taps"/> to
    /// <paramref name="outPath"/>: one float32 array per tap named after it, [n, C, H, W] (or [n, features] when not
    /// spatial), plus "labels" and "indices" (int64, the examples' positions in the test set). Streams: each batch's
    /// activations go to disk before the next batch runs (<see cref="NpzStreamWriter"/>), so memory is bounded by one
    /// batch's taps whatever the number of examples. Members are deflated (np.savez_compressed) unless
    /// <paramref name="compress"/> is false (stored, as np.savez writes them).
    /// </summary>
    public static Written<ExportResult> Run(string run, string outPath, IReadOnlyList<long> indices, TapSet taps, int batchSize,
                                            IProgressReporter? progress = null, bool compress = true)
    {
        using var input = RunSource.Open(run);
        var (model, test) = (input.Model, input.Data);
        foreach (long i in indices)
        {
            if (i < 0 || i >= test.Count) { throw new RepscopeException($"{run}: example index {i} is outside the test set (0..{test.Count - 1})"); }
        }
        if (indices.Count == 0) { throw new RepscopeException("export: no examples chosen"); }
        using var data = test.Subset(indices.ToArray());
        var names = model.TapNames(taps);
        long h = data.Height, w = data.Width;   // not Images: that would normalise every example at once
        long n = 0;
        using var writer = new NpzStreamWriter(outPath, compress);
        Activations.Stream(model, data, batchSize, taps, (batchLabels, t) =>
        {
            for (int i = 0; i < t.Count; i++)
            {
                long features = t[i].shape[1];
                long[] row = LayerNames.SpatialShape(names[i], features, h, w) is { } s ? [s.C, s.H, s.W] : [features];
                AppendFloat32(writer, names[i], row, t[i]);
            }
            writer.Append("labels", NpyDType.Int64, [], batchLabels.Length, MemoryMarshal.AsBytes(batchLabels.AsSpan()));
            n += batchLabels.Length;
        }, progress);
        writer.Append("indices", NpyDType.Int64, [], indices.Count, MemoryMarshal.AsBytes(indices.ToArray().AsSpan()));
        writer.Complete();
        return new Written<ExportResult>(new ExportResult(run, names, n), [outPath]);
    }

    /// <summary>A batch's rows of one float32 tap, [b, ...], appended as they are in the tensor's memory.</summary>
    private static void AppendFloat32(NpzStreamWriter writer, string name, long[] rowShape, TorchSharp.torch.Tensor t)
    {
        using var c = t.contiguous();
        writer.Append(name, NpyDType.Float32, rowShape, c.shape[0], c.bytes);
    }

    /// <summary>
    /// Writes the activations of <paramref name="source"/> at its taps to an .npz: one float32 array per tap with the
    /// tensor's own shape, the member named after the tap where the name is a legal member name (letters, digits,
    /// '_', '-', '.', not starting with '.'), else a cleaned name; the member-to-tap mapping and shapes go into a JSON
    /// beside it (ACTS.npz: ACTS.json). Streams: each batch's taps go to disk before the next batch runs
    /// (<see cref="NpzStreamWriter"/>), so memory is bounded by one batch's taps whatever the number of examples. Members
    /// are deflated (np.savez_compressed) unless <paramref name="compress"/> is false (stored, as np.savez writes them).
    /// </summary>
    public static Written<OnnxExportResult> Run(OnnxSource source, string outPath, int batchSize, IProgressReporter? progress = null,
                                                bool compress = true)
    {
        if (batchSize < 1) { throw new RepscopeException($"{RepscopeException.Option("batchSize")} must be positive, got {batchSize}"); }
        var clock = Stopwatch.StartNew();
        var taps = source.Layers;
        var members = MemberNames(taps);
        var shapes = new long[taps.Count][];
        using (var writer = new NpzStreamWriter(outPath, compress))
        {
            source.Model.Stream(source.Inputs, batchSize, (_, t) =>
            {
                for (int i = 0; i < t.Count; i++)
                {
                    shapes[i] = t[i].shape;
                    AppendFloat32(writer, members[i], shapes[i][1..], t[i]);
                }
            }, progress);
            writer.Complete();
        }
        for (int i = 0; i < taps.Count; i++) { shapes[i][0] = source.Examples; }
        var result = new OnnxExportResult(source.Path, source.Examples, batchSize,
                                          Enumerable.Range(0, taps.Count).ToDictionary(i => members[i], i => taps[i]),
                                          Enumerable.Range(0, taps.Count).ToDictionary(i => members[i], i => shapes[i]), clock.Elapsed.TotalSeconds);
        string mapping = MappingPath(outPath);
        AtomicFile.WriteJson(mapping, result);
        return new Written<OnnxExportResult>(result, [outPath, mapping]);
    }

    /// <summary>Where <see cref="Run(OnnxSource, string, int, IProgressReporter?, bool)"/> writes the member-to-tap mapping: ACTS.npz gives ACTS.json.</summary>
    public static string MappingPath(string npzPath) =>
        Path.ChangeExtension(npzPath, null) + ".json";

    /// <summary>npz member names for tap names: the name itself when legal, else illegal characters as '_' (made unique).</summary>
    public static IReadOnlyList<string> MemberNames(IReadOnlyList<string> taps)
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<string>();
        foreach (var tap in taps)
        {
            string name = LegalMember().IsMatch(tap) ? tap : IllegalCharacters().Replace(tap, "_").TrimStart('_', '.');
            if (name.Length == 0) { name = "tap"; }
            string unique = name;
            for (int k = 2; !used.Add(unique); k++) { unique = $"{name}_{k}"; }
            result.Add(unique);
        }
        return result;
    }

    [GeneratedRegex(@"^[A-Za-z0-9_\-][A-Za-z0-9_\-.]*$")]
    private static partial Regex LegalMember();

    [GeneratedRegex(@"[^A-Za-z0-9_\-.]")]
    private static partial Regex IllegalCharacters();
}
