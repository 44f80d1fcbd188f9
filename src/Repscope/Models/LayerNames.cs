namespace Repscope.Models;

/// <summary>What layer (tap) names mean: stages, residual blocks, branches.</summary>
public static class LayerNames
{
    /// <summary>The stage a tap belongs to: "stage2.block1.conv1" -> "stage2"; "stem" -> "stem"; otherwise the first dotted part.</summary>
    public static string Stage(string layer)
    {
        int dot = layer.IndexOf('.');
        return dot < 0 ? layer : layer[..dot];
    }

    /// <summary>1-based stage number of "stageK...." names, 0 for anything else (the stem).</summary>
    public static int StageNumber(string layer)
    {
        string s = Stage(layer);
        return s.StartsWith("stage", StringComparison.Ordinal) && int.TryParse(s.AsSpan(5), out int k) ? k : 0;
    }

    /// <summary>Indices of the first layer of every stage after the first (where heatmaps draw a line).</summary>
    public static IReadOnlyList<int> StageBoundaries(IReadOnlyList<string> layers)
    {
        var result = new List<int>();
        for (int i = 1; i < layers.Count; i++)
        {
            if (Stage(layers[i]) != Stage(layers[i - 1])) { result.Add(i); }
        }
        return result;
    }

    /// <summary>A residual block's output: "stageK.blockJ" (no further part).</summary>
    public static bool IsBlockOutput(string layer) =>
        StageNumber(layer) > 0 && layer.Split('.') is [_, var b] && b.StartsWith("block", StringComparison.Ordinal);

    /// <summary>The branch of a residual block before the addition: "stageK.blockJ.branch".</summary>
    public static bool IsBranch(string layer) => layer.EndsWith(".branch", StringComparison.Ordinal) && StageNumber(layer) > 0;

    /// <summary>
    /// Infers the [C, H, W] shape of a tap of a CIFAR-style ResNet from its flattened size: the stem
    /// keeps the input's H x W, stage K divides it by 2^(K-1). Null when the size does not fit
    /// (then the tap is treated as a flat vector).
    /// </summary>
    public static (long C, long H, long W)? SpatialShape(string layer, long features, long inputHeight, long inputWidth)
    {
        int stage = StageNumber(layer);
        int shift = Math.Max(stage - 1, 0);
        long h = (inputHeight + (1L << shift) - 1) >> shift, w = (inputWidth + (1L << shift) - 1) >> shift;
        if (h <= 0 || w <= 0 || features % (h * w) != 0) { return null; }
        return (features / (h * w), h, w);
    }
}
