using Repscope.Models;
using Repscope.Similarity;
using Repscope.Spectral;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Analysis;

/// <summary>Within-model CKA of every pair of layers, each layer's first principal component, and the block structure.</summary>
/// <param name="Warnings">What the user should know (batches left out, undefined layers).</param>
public sealed record WithinModelResult(CkaMatrix Cka, IReadOnlyList<FirstComponent> Components, BlockStructureResult Blocks,
                                       int Batches, long Examples, IReadOnlyList<string> Warnings)
{
    public IReadOnlyList<double> Pc1Fractions => Components.Select(c => c.Fraction).ToList();
}

/// <summary>The paper's principal-component evidence for block structure.</summary>
/// <param name="Cka">Within-model CKA of the layers as they are.</param>
/// <param name="Pc1Cosines">Squared cosine similarity of the layers' first principal components in example space.</param>
/// <param name="CkaWithoutPc1">Within-model CKA after removing every layer's first principal component.</param>
public sealed record PrincipalComponentsResult(CkaMatrix Cka, IReadOnlyList<FirstComponent> Components, CkaMatrix Pc1Cosines, CkaMatrix CkaWithoutPc1,
                                               BlockStructureResult Blocks, BlockStructureResult BlocksWithoutPc1, IReadOnlyList<string> Warnings);

/// <summary>
/// Streaming layer-similarity analyses over <see cref="ActivationPass"/>es: nothing is stored per
/// example except one number per example per sketch column for the principal components.
/// </summary>
public static class LayerSimilarity
{
    /// <summary>
    /// Within-model minibatch CKA (paper Eq. 3) over every pass in <paramref name="ckaPasses"/> (e.g. one per epoch of
    /// shuffled data, all accumulated), the first principal component of every layer from the first pass's
    /// examples (it is run <see cref="FirstComponentOptions.Passes"/> times), and the block structure.
    /// </summary>
    public static WithinModelResult WithinModel(IReadOnlyList<string> layers, IReadOnlyList<ActivationPass> ckaPasses,
        FirstComponentOptions? pcOptions = null, BlockOptions? blockOptions = null)
    {
        if (ckaPasses.Count == 0) { throw new ArgumentException("at least one pass is needed", nameof(ckaPasses)); }
        pcOptions ??= FirstComponentOptions.Default;
        var cka = new MinibatchCkaAccumulator(layers);
        var pcs = layers.Select(l => new FirstComponentAccumulator(l, pcOptions)).ToList();
        try
        {
            for (int e = 0; e < ckaPasses.Count; e++)
            {
                bool withPc = e == 0;
                ckaPasses[e]((_, taps) =>
                {
                    cka.Add(taps);
                    if (withPc) { FirstComponents.AddBatch(pcs, taps); }
                });
                if (withPc) { FirstComponents.EndPass(pcs); }
            }
            RunRemainingPasses(pcs, ckaPasses[0]);
            var matrix = cka.Result();
            var components = pcs.Select(a => a.Result()).ToList();
            var blocks = BlockStructure.Detect(matrix.Values, layers, components.Select(c => c.Fraction).ToList(), blockOptions);
            return new WithinModelResult(matrix, components, blocks, cka.Batches, cka.Examples, Warnings(cka, components));
        }
        finally
        {
            foreach (var a in pcs) { a.Dispose(); }
        }
    }

    /// <summary>
    /// Cross-model minibatch CKA: <paramref name="pass"/> delivers, per batch, model A's taps and model B's taps for
    /// the same examples.
    /// </summary>
    public static CkaMatrix CrossModel(IReadOnlyList<string> rows, IReadOnlyList<string> columns,
        Action<Action<IReadOnlyList<Tensor>, IReadOnlyList<Tensor>>> pass, out IReadOnlyList<string> warnings)
    {
        var cka = new MinibatchCkaAccumulator(rows, columns);
        pass((a, b) => cka.Add(a, b));
        warnings = cka.Warnings.Distinct().ToList();
        return cka.Result();
    }

    /// <summary>
    /// First principal components, their squared cosines in example space, and the within-model CKA with and without
    /// every layer's first component. Runs <paramref name="pass"/> <see cref="FirstComponentOptions.Passes"/> + 1 times.
    /// </summary>
    public static PrincipalComponentsResult PrincipalComponents(IReadOnlyList<string> layers, ActivationPass pass,
        FirstComponentOptions? pcOptions = null, BlockOptions? blockOptions = null)
    {
        var within = WithinModel(layers, [pass], pcOptions, blockOptions);
        var components = within.Components;
        var removed = new MinibatchCkaAccumulator(layers);
        var means = components.Select(c => torch.tensor(c.Mean)).ToList();
        var directions = components.Select(c => torch.tensor(c.Direction)).ToList();
        try
        {
            pass((_, taps) =>
            {
                using var scope = torch.NewDisposeScope();
                var stripped = new Tensor[taps.Count];
                for (int i = 0; i < taps.Count; i++)
                {
                    // A layer without a defined component (constant) stays as it is: CKA is undefined for it either way.
                    stripped[i] = double.IsNaN(components[i].Fraction) ? taps[i] : FirstComponents.RemoveFirstComponent(taps[i], means[i], directions[i]);
                }
                removed.Add(stripped);
            });
        }
        finally
        {
            foreach (var t in means.Concat(directions)) { t.Dispose(); }
        }
        var without = removed.Result();
        var cosines = new CkaMatrix(layers, layers, FirstComponents.SquaredCosines(components));
        var blocksWithout = BlockStructure.Detect(without.Values, layers, null, blockOptions);
        var warnings = within.Warnings.Concat(removed.Warnings).Distinct().ToList();
        return new PrincipalComponentsResult(within.Cka, components, cosines, without, within.Blocks, blocksWithout, warnings);
    }

    private static void RunRemainingPasses(List<FirstComponentAccumulator> pcs, ActivationPass pass)
    {
        while (pcs.Any(a => !a.Done))
        {
            pass((_, taps) => FirstComponents.AddBatch(pcs, taps));
            FirstComponents.EndPass(pcs);
        }
    }

    private static List<string> Warnings(MinibatchCkaAccumulator cka, IReadOnlyList<FirstComponent> components)
    {
        var w = cka.Warnings.Distinct().ToList();
        foreach (var c in components.Where(c => double.IsNaN(c.Fraction)))
        {
            w.Add($"layer '{c.Layer}' is constant over the examples: its CKA and first principal component are undefined");
        }
        return w;
    }
}
