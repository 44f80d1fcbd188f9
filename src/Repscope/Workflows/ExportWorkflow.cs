using System.Diagnostics;
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
    /// spatial), plus "labels" and "indices" (int64, the examples' positions in the test set). Holds the chosen examples'
    /// activations in memory.
    /// </summary>
    public static Written<ExportResult> Run(string run, string outPath, IReadOnlyList<long> indices, TapSet taps, int batchSize,
                                            IProgressReporter? progress = null)
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
        var chunks = names.Select(_ => new List<float[]>()).ToArray();
        var features = new long[names.Count];
        var labels = new List<long>();
        Activations.Stream(model, data, batchSize, taps, (batchLabels, t) =>
        {
            labels.AddRange(batchLabels);
            for (int i = 0; i < t.Count; i++)
            {
                features[i] = t[i].shape[1];
                chunks[i].Add(t[i].contiguous().data<float>().ToArray());
            }
        }, progress);
        long n = labels.Count;
        long h = data.Images.shape[2], w = data.Images.shape[3];
        IEnumerable<NdArray> Arrays()
        {
            for (int i = 0; i < names.Count; i++)
            {
                var all = chunks[i].SelectMany(c => c).ToArray();
                chunks[i].Clear();
                var shape = LayerNames.SpatialShape(names[i], features[i], h, w);
                yield return shape is { } s
                    ? NdArray.FromFloat32(names[i], all, n, s.C, s.H, s.W)
                    : NdArray.FromFloat32(names[i], all, n, features[i]);
            }
            yield return NdArray.FromInt64("labels", labels.ToArray(), n);
            yield return NdArray.FromInt64("indices", indices.ToArray(), n);
        }
        Npz.Write(outPath, Arrays());
        return new Written<ExportResult>(new ExportResult(run, names, n), [outPath]);
    }

    /// <summary>
    /// Writes the activations of <paramref name="source"/> at its taps to an .npz: one float32 array per tap with the
    /// tensor's own shape, the member named after the tap where the name is a legal member name (letters, digits,
    /// '_', '-', '.', not starting with '.'), else a cleaned name; the member-to-tap mapping and shapes go into a JSON
    /// beside it (ACTS.npz: ACTS.json). Holds the chosen examples' activations in memory (float32).
    /// </summary>
    public static Written<OnnxExportResult> Run(OnnxSource source, string outPath, int batchSize, IProgressReporter? progress = null)
    {
        if (batchSize < 1) { throw new RepscopeException($"{RepscopeException.Option("batchSize")} must be positive, got {batchSize}"); }
        var clock = Stopwatch.StartNew();
        var taps = source.Layers;
        var chunks = taps.Select(_ => new List<float[]>()).ToArray();
        var shapes = new long[taps.Count][];
        source.Model.Stream(source.Inputs, batchSize, (_, t) =>
        {
            for (int i = 0; i < t.Count; i++)
            {
                shapes[i] = t[i].shape;
                chunks[i].Add(t[i].contiguous().data<float>().ToArray());
            }
        }, progress);
        var members = MemberNames(taps);
        for (int i = 0; i < taps.Count; i++) { shapes[i][0] = source.Examples; }
        IEnumerable<NdArray> Arrays()
        {
            for (int i = 0; i < taps.Count; i++)
            {
                var all = chunks[i].SelectMany(c => c).ToArray();
                chunks[i].Clear();
                yield return NdArray.FromFloat32(members[i], all, shapes[i]);
            }
        }
        Npz.Write(outPath, Arrays());
        var result = new OnnxExportResult(source.Path, source.Examples, batchSize,
                                          Enumerable.Range(0, taps.Count).ToDictionary(i => members[i], i => taps[i]),
                                          Enumerable.Range(0, taps.Count).ToDictionary(i => members[i], i => shapes[i]), clock.Elapsed.TotalSeconds);
        string mapping = MappingPath(outPath);
        AtomicFile.WriteJson(mapping, result);
        return new Written<OnnxExportResult>(result, [outPath, mapping]);
    }

    /// <summary>Where <see cref="Run(OnnxSource, string, int, IProgressReporter?)"/> writes the member-to-tap mapping: ACTS.npz gives ACTS.json.</summary>
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
