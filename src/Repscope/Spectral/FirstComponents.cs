using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Spectral;

/// <summary>
/// Front door for first principal components: of one matrix in memory, or of many layers streamed
/// batch by batch (several passes over the same examples in the same order).
/// </summary>
public static class FirstComponents
{
    /// <summary>
    /// The first principal component of every layer. <paramref name="runPass"/> streams the data once:
    /// it calls its argument with one tensor per layer ([b, ...], in <paramref name="layers"/> order)
    /// for each batch, the same examples in the same order every time it is called.
    /// It is called <see cref="FirstComponentOptions.Passes"/> times.
    /// </summary>
    public static IReadOnlyList<FirstComponent> Compute(IReadOnlyList<string> layers,
        Action<Action<IReadOnlyList<Tensor>>> runPass, FirstComponentOptions? options = null,
        IProgressReporter? progress = null)
    {
        options ??= FirstComponentOptions.Default;
        var accumulators = layers.Select(l => new FirstComponentAccumulator(l, options)).ToList();
        try
        {
            for (int pass = 0; pass < options.Passes; pass++)
            {
                runPass(batch => AddBatch(accumulators, batch));
                EndPass(accumulators);
                if (accumulators.All(a => a.Done)) { break; }
            }
            return accumulators.Select(a => a.Result()).ToList();
        }
        finally
        {
            foreach (var a in accumulators) { a.Dispose(); }
        }
    }

    /// <summary>Feeds one batch (one tensor per layer) to the accumulators that still need data.</summary>
    public static void AddBatch(IReadOnlyList<FirstComponentAccumulator> accumulators, IReadOnlyList<Tensor> batch)
    {
        if (batch.Count != accumulators.Count)
        {
            throw new RepscopeException($"first components: batch has {batch.Count} layers, expected {accumulators.Count}");
        }
        // Every layer's long-lived state first, side by side (FirstComponentAccumulator.PrepareFirstPass), then the batch work.
        for (int i = 0; i < accumulators.Count; i++) { accumulators[i].PrepareFirstPass(batch[i]); }
        for (int i = 0; i < accumulators.Count; i++)
        {
            if (!accumulators[i].Done) { accumulators[i].Add(batch[i]); }
        }
    }

    /// <summary>Ends the pass for every accumulator that still needs data.</summary>
    public static void EndPass(IReadOnlyList<FirstComponentAccumulator> accumulators)
    {
        foreach (var a in accumulators)
        {
            if (!a.Done) { a.EndPass(); }
        }
        // The next pass's B of every layer after all the end-of-pass temporaries are freed (FirstComponentAccumulator.PrepareBPass).
        foreach (var a in accumulators) { a.PrepareBPass(); }
    }

    /// <summary>The first principal component of a matrix in memory (rows = examples), streamed in batches of <paramref name="batchSize"/> rows.</summary>
    public static FirstComponent Of(Tensor x, FirstComponentOptions? options = null, int batchSize = 1024, string name = "x")
    {
        using var acc = new FirstComponentAccumulator(name, options);
        long n = x.shape[0];
        while (!acc.Done)
        {
            for (long start = 0; start < n; start += batchSize)
            {
                using var scope = torch.NewDisposeScope();
                acc.Add(x.narrow(0, start, Math.Min(batchSize, n - start)));
            }
            acc.EndPass();
        }
        return acc.Result();
    }

    /// <summary>
    /// Squared cosine similarity between the example-space first components of every pair of layers:
    /// (u_i . u_j)^2, in [0, 1], 1 on the diagonal; NaN where a layer's component is undefined.
    /// </summary>
    public static double[,] SquaredCosines(IReadOnlyList<FirstComponent> components)
    {
        int l = components.Count;
        var m = new double[l, l];
        for (int i = 0; i < l; i++)
        {
            for (int j = i; j < l; j++)
            {
                var a = components[i];
                var b = components[j];
                double value;
                if (double.IsNaN(a.Fraction) || double.IsNaN(b.Fraction)) { value = double.NaN; }
                else
                {
                    if (a.Examples != b.Examples)
                    {
                        throw new RepscopeException($"layers '{a.Layer}' and '{b.Layer}': {a.Examples} and {b.Examples} examples; PC1 similarity needs the same examples");
                    }
                    double dot = 0, na = 0, nb = 0;
                    for (long k = 0; k < a.Examples; k++)
                    {
                        dot += a.ExampleVector[k] * b.ExampleVector[k];
                        na += a.ExampleVector[k] * a.ExampleVector[k];
                        nb += b.ExampleVector[k] * b.ExampleVector[k];
                    }
                    value = dot * dot / (na * nb);
                }
                m[i, j] = value;
                m[j, i] = value;
            }
        }
        return m;
    }

    /// <summary>
    /// The rows of a batch with the first component removed: X - ((X - mean) v) v^T, [b, p] float32.
    /// Centring is left to the CKA estimator, which removes the mean anyway.
    /// </summary>
    public static Tensor RemoveFirstComponent(Tensor batch, Tensor mean, Tensor direction)
    {
        var x = batch.reshape(batch.shape[0], -1).to(ScalarType.Float32);
        var scores = (x - mean).matmul(direction);           // [b]
        return x - scores.unsqueeze(1) * direction.unsqueeze(0);
    }
}
