using System.Diagnostics;
using Repscope.Analysis;
using Repscope.Models;
using Repscope.Runs;
using Repscope.Spectral;

namespace Repscope.Workflows;

/// <summary>pc.json: the first principal components of one run's layers and the CKA with and without them.</summary>
public sealed record PcResult(string Run, string Architecture, long Examples, int BatchSize, TapSet Taps, IReadOnlyList<string> Layers,
                              IReadOnlyList<double> Pc1Fraction, double[][] Pc1SquaredCosine, double[][] Cka, double[][] CkaWithoutPc1,
                              BlockStructureResult BlockStructure, BlockStructureResult BlockStructureWithoutPc1,
                              FirstComponentOptions PcOptions, IReadOnlyList<string> Warnings, double Seconds);

/// <summary>
/// `repscope pc`: the paper's principal-component evidence for block structure (<see cref="LayerSimilarity.PrincipalComponents"/>)
/// on a run's test examples; writes RUN/analysis/pc.json, pc.png (squared cosines of the layers' first components),
/// pc_cka_without_pc1.png and pc_fraction.png.
/// </summary>
public static class PcWorkflow
{
    public const string JsonFile = "pc.json";
    public const string CosineFile = "pc.png";
    public const string CkaWithoutPc1File = "pc_cka_without_pc1.png";
    public const string FractionFile = "pc_fraction.png";

    /// <summary>A run's test examples through its model; writes into RUN/analysis/.</summary>
    public static Written<PcResult> Run(string run, StreamOptions options, BlockStructureOptions? blockOptions = null,
                                        FirstComponentOptions? pcOptions = null, IProgressReporter? progress = null)
    {
        using var input = new RunSource(run, options);
        return Run(input, RunFormat.AnalysisPath(run), options, blockOptions, pcOptions, progress);
    }

    /// <summary>Any activation source (a run or an ONNX model on given inputs); writes into <paramref name="folder"/>.</summary>
    public static Written<PcResult> Run(IActivationSource source, string folder, StreamOptions options, BlockStructureOptions? blockOptions = null,
                                        FirstComponentOptions? pcOptions = null, IProgressReporter? progress = null)
    {
        options.Validate();
        progress ??= ProgressReporter.None;
        pcOptions ??= FirstComponentOptions.Default;
        var clock = Stopwatch.StartNew();
        var layers = source.Layers;
        var r = LayerSimilarity.PrincipalComponents(layers, source.Pass(0, source.Examples, options.BatchSize, progress), pcOptions, blockOptions);
        var result = new PcResult(source.Path, source.Architecture, source.Examples, options.BatchSize, source.Taps, layers,
                                  r.Components.Select(c => c.Fraction).ToList(), r.Pc1Cosines.ValueRows(), r.Cka.ValueRows(),
                                  r.CkaWithoutPc1.ValueRows(), r.BlockStructure, r.BlockStructureWithoutPc1, pcOptions, r.Warnings, clock.Elapsed.TotalSeconds);
        Directory.CreateDirectory(folder);
        string json = Path.Combine(folder, JsonFile), cosines = Path.Combine(folder, CosineFile),
               without = Path.Combine(folder, CkaWithoutPc1File), fraction = Path.Combine(folder, FractionFile);
        AtomicFile.WriteJson(json, result);
        AnalysisPlots.WithinModelHeatmap(cosines, r.Pc1Cosines, $"{source.Architecture}: squared cosine of first principal components", r.BlockStructure, "cos² (PC1)");
        AnalysisPlots.WithinModelHeatmap(without, r.CkaWithoutPc1, $"{source.Architecture}: CKA after removing each layer's PC1", r.BlockStructureWithoutPc1);
        AnalysisPlots.AcrossDepth(fraction, $"{source.Architecture}: variance explained by the first principal component",
                                  "fraction of variance (PC1)", layers, [("PC1 fraction", result.Pc1Fraction)], r.BlockStructure, (0, 1));
        return new Written<PcResult>(result, [json, cosines, without, fraction]);
    }
}
