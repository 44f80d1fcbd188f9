using System.Numerics;
using System.Runtime.InteropServices;

namespace Repscope.Similarity;

/// <summary>
/// Linear CKA with the biased HSIC on the whole data, in managed float64 code, for inputs small enough that loading
/// libtorch (about half a second) would cost more than the computation: what <c>repscope cka</c> on two small .npy
/// files computes without touching libtorch (bench/README.md, "Startup"). The same quantity as <see cref="LinearCka"/>:
/// ||Xc'Yc||_F^2 / (||Xc'Xc||_F ||Yc'Yc||_F) with Xc, Yc the column-centred matrices, summed in float64 in a fixed
/// order on one thread (the same bits whatever the thread settings). Both forms are sums of squared dot products:
/// over pairs of columns (feature space) or, through &lt;XX', YY'&gt; = ||X'Y||^2, over pairs of rows (Gram space,
/// without storing an n x n matrix); the cheaper is taken.
/// </summary>
internal static class ManagedLinearCka
{
    /// <summary>The most multiply-adds (about 0.1 s on one core) for which this path is used instead of libtorch.</summary>
    public const long WorkLimit = 1L << 27;

    /// <summary>The most values (rows x features, both sides) it holds in memory (32 MiB of float64).</summary>
    public const long ValueLimit = 1L << 22;

    /// <summary>Multiply-adds of the cheaper form for n rows of p and q features.</summary>
    public static long Work(long n, long p, long q)
    {
        double gram = (double)n * n * (p + q) / 2;
        double features = (double)n * (p * q + (p * p + q * q) / 2.0);
        return (long)Math.Min(Math.Min(gram, features), long.MaxValue / 2);
    }

    /// <summary>Whether an n x p against n x q pair is small enough for this path.</summary>
    public static bool Fits(long n, long p, long q) => n >= 2 && p > 0 && q > 0 && n * (p + q) <= ValueLimit && Work(n, p, q) <= WorkLimit;

    /// <summary>
    /// CKA of two row-major matrices (n x p, n x q) of finite values. Throws <see cref="UndefinedResultException"/> for a
    /// constant representation, with the message of <see cref="LinearCka"/>.
    /// </summary>
    public static double Compute(double[] x, long p, double[] y, long q, string xName = "x", string yName = "y")
    {
        long n = x.LongLength / p;
        if (y.LongLength / q != n)
        {
            throw new RepscopeException($"{xName} has {n} examples (rows) but {yName} has {y.LongLength / q}; CKA needs the same examples in the same order");
        }
        if (IsConstant(x, p)) { throw LinearCka.Constant(xName); }
        if (IsConstant(y, q)) { throw LinearCka.Constant(yName); }
        var cx = CentredAtSafeScale(x, n, p);
        var cy = CentredAtSafeScale(y, n, q);
        double xy, xx, yy;
        if (p < n && q < n)
        {
            var tx = Transpose(cx, n, p);
            var ty = Transpose(cy, n, q);
            xy = SquaredDots(tx, ty, n);
            xx = SquaredDotsSymmetric(tx, n);
            yy = SquaredDotsSymmetric(ty, n);
        }
        else
        {
            (xy, xx, yy) = GramSums(cx, p, cy, q, n);
        }
        return LinearCka.Ratio(xy, xx, yy);
    }

    private static bool IsConstant(double[] m, long p)
    {
        var first = m.AsSpan(0, (int)p);
        for (long r = 1; r < m.LongLength / p; r++)
        {
            if (!m.AsSpan((int)(r * p), (int)p).SequenceEqual(first)) { return false; }
        }
        return true;
    }

    /// <summary>A column-centred copy, scaled by a power of two (exact) so that squares and products cannot overflow.</summary>
    private static double[] CentredAtSafeScale(double[] m, long n, long p)
    {
        double max = 0;
        foreach (double v in m) { max = Math.Max(max, Math.Abs(v)); }
        int e = max > 0 ? Math.ILogB(max) : 0;
        var means = new double[p];
        for (long r = 0; r < n; r++)
        {
            for (long c = 0; c < p; c++) { means[c] += Math.ScaleB(m[r * p + c], -e); }
        }
        for (long c = 0; c < p; c++) { means[c] /= n; }
        var centred = new double[m.LongLength];
        for (long r = 0; r < n; r++)
        {
            for (long c = 0; c < p; c++) { centred[r * p + c] = Math.ScaleB(m[r * p + c], -e) - means[c]; }
        }
        return centred;
    }

    private static double[] Transpose(double[] m, long n, long p)
    {
        var t = new double[m.LongLength];
        for (long r = 0; r < n; r++)
        {
            for (long c = 0; c < p; c++) { t[c * n + r] = m[r * p + c]; }
        }
        return t;
    }

    /// <summary>Sum over all (i, j) of (a_i . b_j)^2, the rows of length <paramref name="length"/>.</summary>
    private static double SquaredDots(double[] a, double[] b, long length)
    {
        long na = a.LongLength / length, nb = b.LongLength / length;
        double sum = 0;
        for (long i = 0; i < na; i++)
        {
            var ai = a.AsSpan((int)(i * length), (int)length);
            for (long j = 0; j < nb; j++)
            {
                double d = Dot(ai, b.AsSpan((int)(j * length), (int)length));
                sum += d * d;
            }
        }
        return sum;
    }

    /// <summary>Sum over all (i, j) of (a_i . a_j)^2, each pair i &lt; j computed once.</summary>
    private static double SquaredDotsSymmetric(double[] a, long length)
    {
        long na = a.LongLength / length;
        double diagonal = 0, off = 0;
        for (long i = 0; i < na; i++)
        {
            var ai = a.AsSpan((int)(i * length), (int)length);
            double d = Dot(ai, ai);
            diagonal += d * d;
            for (long j = i + 1; j < na; j++)
            {
                d = Dot(ai, a.AsSpan((int)(j * length), (int)length));
                off += d * d;
            }
        }
        return diagonal + 2 * off;
    }

    /// <summary>&lt;K, L&gt;, &lt;K, K&gt;, &lt;L, L&gt; with K = X X', L = Y Y', one pair of rows at a time (each pair i &lt; j once).</summary>
    private static (double KL, double KK, double LL) GramSums(double[] x, long p, double[] y, long q, long n)
    {
        double kl = 0, kk = 0, ll = 0, dkl = 0, dkk = 0, dll = 0;
        for (long i = 0; i < n; i++)
        {
            var xi = x.AsSpan((int)(i * p), (int)p);
            var yi = y.AsSpan((int)(i * q), (int)q);
            double k = Dot(xi, xi), l = Dot(yi, yi);
            dkl += k * l;
            dkk += k * k;
            dll += l * l;
            for (long j = i + 1; j < n; j++)
            {
                k = Dot(xi, x.AsSpan((int)(j * p), (int)p));
                l = Dot(yi, y.AsSpan((int)(j * q), (int)q));
                kl += k * l;
                kk += k * k;
                ll += l * l;
            }
        }
        return (dkl + 2 * kl, dkk + 2 * kk, dll + 2 * ll);
    }

    /// <summary>A dot product in a fixed order: <see cref="Vector{T}"/> lanes, then the lanes and the tail added in order.</summary>
    private static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        int w = Vector<double>.Count, i = 0;
        var acc = Vector<double>.Zero;
        var va = MemoryMarshal.Cast<double, Vector<double>>(a);
        var vb = MemoryMarshal.Cast<double, Vector<double>>(b);
        for (int v = 0; v < va.Length; v++) { acc += va[v] * vb[v]; }
        i = va.Length * w;
        double sum = Vector.Sum(acc);
        for (; i < a.Length; i++) { sum += a[i] * b[i]; }
        return sum;
    }
}
