namespace Repscope;

/// <summary>
/// A small deterministic pseudo-random generator (SplitMix64, Steele, Lea and Flood 2014) whose
/// sequence is fixed by its seed on every platform and .NET version (System.Random promises no
/// such thing). <see cref="ForStream"/> derives an independent generator for stream k of a seed,
/// so that work split over threads (bootstrap replicate k, permutation k) gives the same numbers
/// whatever the thread count.
/// </summary>
public sealed class SeededRandom(ulong seed)
{
    private ulong _state = seed;

    /// <summary>The generator for stream <paramref name="stream"/> of <paramref name="seed"/>: the seed mixed with the stream index.</summary>
    public static SeededRandom ForStream(ulong seed, long stream) => new(Mix(seed ^ Mix(0x5851F42D4C957F2DUL + (ulong)stream)));

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        _state += 0x9E3779B97F4A7C15UL;
        return Mix(_state);
    }

    /// <summary>A uniform integer in [0, n) (n &gt; 0), without modulo bias (Lemire's multiply-shift with rejection).</summary>
    public int Next(int n)
    {
        if (n <= 0) { throw new ArgumentOutOfRangeException(nameof(n), n, "must be positive"); }
        ulong range = (ulong)n;
        ulong threshold = (0UL - range) % range;
        while (true)
        {
            ulong x = NextUInt64();
            ulong high = Math.BigMul(x, range, out ulong low);
            if (low >= threshold) { return (int)high; }
        }
    }

    /// <summary>A uniform double in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
