using System.Globalization;

namespace Repscope.Analysis;

/// <summary>Short human summaries of analysis results (for the commands' output).</summary>
public static class AnalysisText
{
    /// <summary>
    /// The minibatches of an analysis's CKA as they were: consecutive batches of <paramref name="batchSize"/> examples,
    /// the last one shorter when <paramref name="examples"/> is not a multiple ("3 batches of 256 and 1 of 44"), or that
    /// last one left out (fewer than 4 rows: the unbiased HSIC needs 4). <paramref name="batches"/>: the batches used.
    /// </summary>
    public static string Batches(long examples, int batchSize, int batches)
    {
        long full = examples / batchSize, rest = examples % batchSize;
        string whole = $"{full} {(full == 1 ? "batch" : "batches")} of {batchSize}";
        if (rest == 0 || full == 0 && batches == 1) { return full == 0 ? $"1 batch of {rest}" : whole; }
        return batches > full ? $"{whole} and 1 of {rest}" : $"{whole}; the last {rest} left out";
    }

    public static string BlockStructureSummary(BlockStructureResult r)
    {
        var inv = CultureInfo.InvariantCulture;
        string head = string.Format(inv, "block structure (CKA >= {0}, >= {1} layers): ", r.Options.Threshold, r.Options.MinLayers);
        string level = double.IsNaN(r.Level) ? "n/a" : r.Level.ToString("0.000", inv);
        if (!r.Found) { return head + $"none (level {level})"; }
        var lines = r.Spans.Select((b, k) => string.Format(inv, "  B{0}: {1} .. {2} ({3} layers), mean CKA {4:0.000}, min {5:0.000}, mean PC1 fraction {6}",
            k + 1, b.FirstLayer, b.LastLayer, b.Length, b.MeanCka, b.MinCka, double.IsNaN(b.MeanPc1Fraction) ? "n/a" : b.MeanPc1Fraction.ToString("0.000", inv)));
        return head + string.Format(inv, "{0} span(s), coverage {1:P0}, level {2}\n", r.Spans.Count, r.Coverage, level) + string.Join("\n", lines);
    }

    /// <summary>
    /// Every detected block structure on one line, for a figure's caption: "block structure (CKA >= 0.9, >= 4 layers):
    /// B1 stem..stage1.block3 (4 layers), B2 stage3.block1..stage3.block4 (4 layers)", or "... : none"; with
    /// <paramref name="perLine"/>, a line break after every that many block structures (for a figure's width).
    /// </summary>
    public static string BlockStructureList(BlockStructureResult r, int perLine = int.MaxValue)
    {
        var inv = CultureInfo.InvariantCulture;
        string head = string.Format(inv, "block structure (CKA >= {0}, >= {1} layers): ", r.Options.Threshold, r.Options.MinLayers);
        if (!r.Found) { return head + "none"; }
        var names = r.Spans.Select((b, k) => string.Format(inv, "B{0} {1}..{2} ({3} layers)", k + 1, b.FirstLayer, b.LastLayer, b.Length));
        return head + string.Join(",\n", names.Chunk(perLine).Select(line => string.Join(", ", line)));
    }
}
