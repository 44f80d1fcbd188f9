namespace Repscope.Data;

/// <summary>Seeded, stratified subsets: the same labels, count and seed give the same indices, whatever uses them.</summary>
public static class Subsets
{
    /// <summary>
    /// <paramref name="count"/> indices (ascending) drawn without replacement so that each class
    /// keeps its share of the examples (largest-remainder rounding, ties to the lower class).
    /// </summary>
    public static long[] Stratified(IReadOnlyList<long> labels, int classes, long count, int seed)
    {
        long n = labels.Count;
        if (count < 0 || count > n) { throw new RepscopeException($"cannot take {count} examples from a split of {n}"); }
        var byClass = new List<long>[classes];
        for (int c = 0; c < classes; c++) { byClass[c] = []; }
        for (long i = 0; i < n; i++) { byClass[labels[(int)i]].Add(i); }

        var take = new long[classes];
        var remainders = new (double Frac, int Class)[classes];
        long assigned = 0;
        for (int c = 0; c < classes; c++)
        {
            double exact = n == 0 ? 0 : (double)count * byClass[c].Count / n;
            take[c] = (long)Math.Floor(exact);
            assigned += take[c];
            remainders[c] = (exact - take[c], c);
        }
        foreach (var (_, c) in remainders.OrderByDescending(r => r.Frac).ThenBy(r => r.Class))
        {
            if (assigned >= count) { break; }
            if (take[c] < byClass[c].Count) { take[c]++; assigned++; }
        }

        var rng = new Random(seed);
        var chosen = new List<long>((int)count);
        for (int c = 0; c < classes; c++)
        {
            var items = byClass[c].ToArray();
            for (int i = items.Length - 1; i > 0; i--)
            {
                int j = rng.Next(i + 1);
                (items[i], items[j]) = (items[j], items[i]);
            }
            chosen.AddRange(items.Take((int)take[c]));
        }
        chosen.Sort();
        return chosen.ToArray();
    }

    /// <summary>The indices 0..n-1 in a random order drawn from <paramref name="seed"/> (torch.randperm with a seeded generator).</summary>
    public static long[] Shuffled(long n, long seed)
    {
        using var generator = new TorchSharp.torch.Generator((ulong)seed);
        using var order = TorchSharp.torch.randperm(n, generator: generator);
        return order.data<long>().ToArray();
    }

    /// <summary>The indices 0..n-1 not in <paramref name="taken"/>, ascending.</summary>
    public static long[] Complement(long n, IReadOnlyCollection<long> taken)
    {
        var set = new HashSet<long>(taken);
        var rest = new List<long>();
        for (long i = 0; i < n; i++) { if (!set.Contains(i)) { rest.Add(i); } }
        return rest.ToArray();
    }
}
