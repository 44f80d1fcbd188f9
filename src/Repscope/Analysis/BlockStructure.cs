using System.Text.Json.Serialization;

namespace Repscope.Analysis;

/// <summary>Settings of block-structure detection (docs/block-structure.md).</summary>
/// <param name="Threshold">Every pair of layers inside a block has CKA at least this.</param>
/// <param name="MinLayers">A block has at least this many consecutive layers.</param>
public sealed record BlockStructureOptions(double Threshold = BlockStructureOptions.DefaultThreshold, int MinLayers = BlockStructureOptions.DefaultMinLayers)
{
    public const double DefaultThreshold = 0.9;
    public const int DefaultMinLayers = 4;
    public static readonly BlockStructureOptions Default = new();

    /// <summary>Checks the settings; a RepscopeException names the bad one.</summary>
    public BlockStructureOptions Validated()
    {
        if (MinLayers < 2) { throw new RepscopeException($"block structure: minimum block length must be at least 2, got {MinLayers}"); }
        if (!(Threshold > 0 && Threshold <= 1)) { throw new RepscopeException($"block structure: threshold must be in (0, 1], got {Threshold}"); }
        return this;
    }
}

/// <summary>One span of block structure (a bright square on the heatmap): layers First..Last (inclusive, indices into the layer list).</summary>
/// <param name="MeanCka">Mean CKA over the pairs of distinct layers in the span.</param>
/// <param name="MinCka">Smallest CKA between two layers of the span (at least the threshold).</param>
/// <param name="MeanPc1Fraction">Mean fraction of variance explained by the first principal component over the span's layers (NaN when not given).</param>
public sealed record BlockStructureSpan(int First, int Last, string FirstLayer, string LastLayer, double MeanCka, double MinCka, double MeanPc1Fraction)
{
    public int Length => Last - First + 1;
    public bool Contains(int layer) => layer >= First && layer <= Last;
}

/// <summary>The block structure of one CKA matrix.</summary>
/// <param name="Spans">The spans of block structure in layer order (empty when there is none). JSON "spans"; files written
/// before the rename call them "blocks" and read the same.</param>
/// <param name="Coverage">Fraction of the layers that lie in a span.</param>
/// <param name="Level">The largest threshold at which a block of at least MinLayers layers would still be found:
/// max over runs of at least MinLayers consecutive layers of their smallest pairwise CKA. Threshold-free and graded;
/// Level &gt;= Threshold exactly when a block was found. NaN with fewer than MinLayers layers.</param>
public sealed record BlockStructureResult(BlockStructureOptions Options, int Layers, IReadOnlyList<BlockStructureSpan> Spans, double Coverage, double Level)
{
    public bool Found => Spans.Count > 0;

    /// <summary>What layers.json, pc.json and the other files written before the rename call <see cref="Spans"/>: read into it, never written.</summary>
    [JsonInclude, JsonPropertyName("blocks"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    private IReadOnlyList<BlockStructureSpan>? LegacyBlocks
    {
        get => null;
        init { if (value is not null) { Spans = value; } }
    }
}

/// <summary>
/// Detects block structure (Nguyen et al. 2021): runs of consecutive layers whose representations
/// are all highly similar to each other, the bright squares on a within-model CKA heatmap.
/// <para>Definition: a run of consecutive layers is coherent when the CKA of every pair of its
/// layers is at least <see cref="BlockStructureOptions.Threshold"/> (an undefined, NaN, CKA never is).
/// The blocks are found greedily: the longest coherent run (the earliest among equally long ones)
/// is a block if it has at least <see cref="BlockStructureOptions.MinLayers"/> layers; then the same is
/// done in the layers left of it and right of it, separately, until no such run remains.
/// Blocks therefore never overlap.</para>
/// </summary>
public static class BlockStructure
{
    public static BlockStructureResult Detect(double[,] cka, IReadOnlyList<string> layers,
                                              IReadOnlyList<double>? pc1Fractions = null, BlockStructureOptions? options = null)
    {
        options = (options ?? BlockStructureOptions.Default).Validated();
        int l = layers.Count;
        if (cka.GetLength(0) != l || cka.GetLength(1) != l)
        {
            throw new RepscopeException($"block structure: CKA matrix is {cka.GetLength(0)} x {cka.GetLength(1)}, expected {l} x {l} for {l} layers");
        }
        if (pc1Fractions is not null && pc1Fractions.Count != l)
        {
            throw new RepscopeException($"block structure: {pc1Fractions.Count} PC1 fractions for {l} layers");
        }

        // runMin[i, j]: smallest pairwise similarity inside layers i..j (j > i); NaN counts as -infinity.
        var runMin = new double[l, l];
        for (int i = 0; i < l; i++)
        {
            runMin[i, i] = double.PositiveInfinity;
            for (int j = i + 1; j < l; j++)
            {
                double m = runMin[i, j - 1];
                for (int a = i; a < j; a++) { m = Math.Min(m, Pair(cka, a, j)); }
                runMin[i, j] = m;
            }
        }

        var blocks = new List<BlockStructureSpan>();
        FindSpans(0, l - 1);
        blocks.Sort((a, b) => a.First.CompareTo(b.First));

        double level = double.NaN;
        for (int i = 0; i + options.MinLayers - 1 < l; i++)
        {
            for (int j = i + options.MinLayers - 1; j < l; j++)
            {
                double m = runMin[i, j];
                level = double.IsNaN(level) ? m : Math.Max(level, m);
            }
        }
        if (double.IsNegativeInfinity(level)) { level = double.NaN; }
        int covered = blocks.Sum(b => b.Length);
        return new BlockStructureResult(options, l, blocks, l == 0 ? 0 : (double)covered / l, level);

        void FindSpans(int from, int to)
        {
            int bestFirst = -1, bestLength = 0;
            for (int i = from; i <= to; i++)
            {
                for (int j = to; j >= i + Math.Max(bestLength, 1); j--)     // only runs longer than the best so far
                {
                    if (runMin[i, j] >= options.Threshold) { bestFirst = i; bestLength = j - i + 1; break; }
                }
            }
            if (bestFirst < 0 || bestLength < options.MinLayers) { return; }
            int last = bestFirst + bestLength - 1;
            blocks.Add(MakeSpan(bestFirst, last));
            FindSpans(from, bestFirst - 1);
            FindSpans(last + 1, to);
        }

        BlockStructureSpan MakeSpan(int first, int last)
        {
            double sum = 0;
            int pairs = 0;
            for (int a = first; a <= last; a++)
            {
                for (int b = a + 1; b <= last; b++) { sum += Pair(cka, a, b); pairs++; }
            }
            double pc1 = pc1Fractions is null ? double.NaN
                : Enumerable.Range(first, last - first + 1).Select(i => pc1Fractions[i]).Average();
            return new BlockStructureSpan(first, last, layers[first], layers[last], sum / pairs, runMin[first, last], pc1);
        }
    }

    // The similarity of a pair, symmetrised by the smaller entry; NaN becomes -infinity (never similar).
    private static double Pair(double[,] cka, int a, int b)
    {
        double x = cka[a, b], y = cka[b, a];
        if (double.IsNaN(x) || double.IsNaN(y)) { return double.NegativeInfinity; }
        return Math.Min(x, y);
    }

    /// <summary>
    /// Blocks found on some list of layers re-expressed on <paramref name="axis"/> by their first and last layer names.
    /// A layer inside a residual block ("stage2.block3.branch.conv1") maps to the nearest enclosing layer on the axis
    /// ("stage2.block3"); a block whose ends are not on the axis is left out. Coverage and level are NaN (not measured on this axis).
    /// </summary>
    public static BlockStructureResult OnAxis(IReadOnlyList<string> axis, IReadOnlyList<BlockStructureSpan> blocks)
    {
        var mapped = new List<BlockStructureSpan>();
        foreach (var b in blocks)
        {
            int first = IndexOnAxis(axis, b.FirstLayer), last = IndexOnAxis(axis, b.LastLayer);
            if (first >= 0 && last >= first) { mapped.Add(b with { First = first, Last = last }); }
        }
        return new BlockStructureResult(BlockStructureOptions.Default, axis.Count, mapped, double.NaN, double.NaN);
    }

    /// <summary>The names of the layers inside <paramref name="blocks"/> (found on <paramref name="layers"/>).</summary>
    public static IReadOnlySet<string> LayersIn(IReadOnlyList<string> layers, IReadOnlyList<BlockStructureSpan> blocks)
    {
        var inside = new HashSet<string>();
        foreach (var b in blocks) { for (int i = b.First; i <= b.Last; i++) { inside.Add(layers[i]); } }
        return inside;
    }

    private static int IndexOnAxis(IReadOnlyList<string> axis, string layer)
    {
        for (string l = layer; ; l = l[..l.LastIndexOf('.')])
        {
            int i = axis.ToList().IndexOf(l);
            if (i >= 0) { return i; }
            if (!l.Contains('.')) { return -1; }
        }
    }
}
