using System.Diagnostics;
using System.Text.RegularExpressions;
using Repscope.Interop;
using Repscope.Models;
using Repscope.Spectral;

namespace Repscope.Analysis;

/// <summary>npz member name to tap name, written beside an export (ACTS.json next to ACTS.npz).</summary>
public sealed record OnnxExportReport(string Model, long Examples, int BatchSize, IReadOnlyDictionary<string, string> Members,
                                      IReadOnlyDictionary<string, long[]> Shapes, double Seconds);

/// <summary>
/// The analyses of any <see cref="IActivationSource"/> (a trained run or an ONNX model), writing the same JSON and
/// PNGs as <see cref="RunAnalyses"/> into a chosen folder; and the export of an ONNX model's activations.
/// </summary>
public static partial class SourceAnalyses
{
    /// <summary>Within-model CKA, PC1 per layer and block structure: layers.json, layers.png, layers_pc1.png in <paramref name="outFolder"/>.</summary>
    public static LayersReport Layers(IActivationSource source, string outFolder, StreamOptions options, BlockOptions? blockOptions = null,
                                      FirstComponentOptions? pcOptions = null, IProgressReporter? progress = null)
    {
        options.Validate();
        if (options.Epochs != 1) { throw new RepscopeException($"{source.Path}: --epochs above 1 needs a run directory (its test set is shuffled per epoch); got {options.Epochs}"); }
        progress ??= ProgressReporter.None;
        pcOptions ??= FirstComponentOptions.Default;
        var clock = Stopwatch.StartNew();
        var layers = source.Layers;
        var pass = source.Pass(0, source.Examples, options.BatchSize, progress);
        var result = LayerSimilarity.WithinModel(layers, [pass], pcOptions, blockOptions);
        var report = new LayersReport(source.Path, source.Architecture, source.Examples, options.BatchSize, 1, Selection(source, options), result.Batches,
                                      layers, RunAnalyses.Rows(result.Cka.Values), result.Pc1Fractions, result.Blocks, pcOptions, result.Warnings,
                                      clock.Elapsed.TotalSeconds);
        AtomicFile.WriteJson(Path.Combine(outFolder, "layers.json"), report);
        AnalysisPlots.WithinModelHeatmap(Path.Combine(outFolder, "layers.png"), result.Cka, $"{source.Architecture}: CKA between layers", result.Blocks);
        AnalysisPlots.AcrossDepth(Path.Combine(outFolder, "layers_pc1.png"), $"{source.Architecture}: variance explained by the first principal component",
                                  "fraction of variance (PC1)", layers, [("PC1 fraction", result.Pc1Fractions)], result.Blocks, (0, 1));
        return report;
    }

    /// <summary>Cross-model CKA of every pair of sources on the same examples: compare_A_vs_B.json / .png in <paramref name="outFolder"/>.</summary>
    public static IReadOnlyList<CompareReport> Compare(IReadOnlyList<IActivationSource> sources, string outFolder, StreamOptions options,
                                                       IProgressReporter? progress = null)
    {
        options.Validate();
        if (sources.Count < 2) { throw new RepscopeException("compare needs at least two models"); }
        progress ??= ProgressReporter.None;
        for (int i = 1; i < sources.Count; i++)
        {
            if (sources[i].Examples != sources[0].Examples)
            {
                throw new RepscopeException($"{sources[i].Path} has {sources[i].Examples} examples, {sources[0].Path} has {sources[0].Examples}; CKA needs the same examples (use --examples N)");
            }
        }
        var names = UniqueNames(sources.Select(s => s.Name).ToList());
        var reports = new List<CompareReport>();
        for (int a = 0; a < sources.Count; a++)
        {
            for (int b = a + 1; b < sources.Count; b++)
            {
                var clock = Stopwatch.StartNew();
                var (sa, sb) = (sources[a], sources[b]);
                var matrix = LayerSimilarity.CrossModel(sa.Layers, sb.Layers, onBatch =>
                {
                    long offset = 0;
                    sa.Pass(0, sa.Examples, options.BatchSize, progress)((labels, tapsA) =>
                    {
                        sb.Pass(offset, labels.Length, labels.Length, ProgressReporter.None)((_, tapsB) => onBatch(tapsA, tapsB));
                        offset += labels.Length;
                    });
                }, out var warnings);
                var report = new CompareReport(sa.Path, sb.Path, sa.Architecture, sb.Architecture, sa.Examples, options.BatchSize,
                                               Selection(sa, options), sa.Layers, sb.Layers, RunAnalyses.Rows(matrix.Values), warnings, clock.Elapsed.TotalSeconds);
                string stem = $"compare_{names[a]}_vs_{names[b]}";
                AtomicFile.WriteJson(Path.Combine(outFolder, stem + ".json"), report);
                AnalysisPlots.CrossModelHeatmap(Path.Combine(outFolder, stem + ".png"), matrix, $"CKA: {sa.Architecture} vs {sb.Architecture}",
                                                $"{names[a]}: {sa.Architecture}", $"{names[b]}: {sb.Architecture}");
                reports.Add(report);
            }
        }
        return reports;
    }

    /// <summary>
    /// Writes the activations of <paramref name="source"/> at its taps to an .npz: one float32 array per tap with the
    /// tensor's own shape, the member named after the tap where the name is a legal member name (letters, digits,
    /// '_', '-', '.', not starting with '.'), else a cleaned name; the member-to-tap mapping and shapes go into a JSON
    /// beside it (ACTS.npz: ACTS.json). Holds the chosen examples' activations in memory (float32).
    /// </summary>
    public static OnnxExportReport Export(OnnxSource source, string outPath, int batchSize, IProgressReporter? progress = null)
    {
        if (batchSize < 1) { throw new RepscopeException($"--batch-size must be positive, got {batchSize}"); }
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
        var report = new OnnxExportReport(source.Path, source.Examples, batchSize,
                                          Enumerable.Range(0, taps.Count).ToDictionary(i => members[i], i => taps[i]),
                                          Enumerable.Range(0, taps.Count).ToDictionary(i => members[i], i => shapes[i]), clock.Elapsed.TotalSeconds);
        AtomicFile.WriteJson(MappingPath(outPath), report);
        return report;
    }

    /// <summary>Where <see cref="Export"/> writes the member-to-tap mapping: ACTS.npz gives ACTS.json.</summary>
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

    private static LayerSelection Selection(IActivationSource source, StreamOptions options) =>
        source is OnnxSource onnx ? (onnx.DefaultTaps ? LayerSelection.Blocks : LayerSelection.All) : options.Taps;

    private static string[] UniqueNames(IReadOnlyList<string> names)
    {
        var result = names.ToArray();
        for (int i = 0; i < result.Length; i++)
        {
            if (names.Count(n => n == names[i]) > 1) { result[i] = $"{names[i]}-{i + 1}"; }
        }
        return result;
    }

    [GeneratedRegex(@"^[A-Za-z0-9_\-][A-Za-z0-9_\-.]*$")]
    private static partial Regex LegalMember();

    [GeneratedRegex(@"[^A-Za-z0-9_\-.]")]
    private static partial Regex IllegalCharacters();
}
