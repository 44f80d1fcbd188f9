using Repscope.Interop;
using Repscope.Models;

namespace Repscope.Workflows;

/// <summary>What `repscope export` wrote: the taps (one array each, plus "labels" and "indices") for this many examples.</summary>
public sealed record ExportResult(string Run, IReadOnlyList<string> Taps, long Examples);

/// <summary>`repscope export`: a run's activations for chosen test examples as an .npz, for use anywhere (numpy).</summary>
public static class ExportWorkflow
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
        using var input = RunInput.Open(run);
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
}
