using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Tests.Similarity;

/// <summary>Seeded random representations and a direct (slow, obviously correct) float64 reference.</summary>
internal static class SimilarityTestData
{
    public static Tensor Randn(long seed, long n, long p, ScalarType type = ScalarType.Float64)
    {
        var g = new Generator((ulong)seed);
        return torch.randn(n, p, dtype: ScalarType.Float64, generator: g).to_type(type);
    }

    /// <summary>Y correlated with X: Y = X A + noise, with a different width.</summary>
    public static Tensor Related(Tensor x, long seed, long q, double noise = 1.0)
    {
        var a = Randn(seed + 1000, x.shape[1], q, x.dtype);
        return x.mm(a) + noise * Randn(seed + 2000, x.shape[0], q, x.dtype);
    }

    public static Tensor RandomOrthogonal(long seed, long p)
    {
        var (q, _) = torch.linalg.qr(Randn(seed, p, p));
        return q;
    }

    /// <summary>tr(K H L H) / (n-1)^2 with H built explicitly.</summary>
    public static double ReferenceBiasedHsic(Tensor k, Tensor l)
    {
        long n = k.shape[0];
        var h = torch.eye(n, dtype: ScalarType.Float64) - torch.ones(n, n, dtype: ScalarType.Float64) / n;
        return k.mm(h).mm(l).mm(h).trace().item<double>() / ((n - 1.0) * (n - 1.0));
    }

    public static double ReferenceCka(Tensor k, Tensor l, Func<Tensor, Tensor, double> hsic) =>
        hsic(k, l) / Math.Sqrt(hsic(k, k) * hsic(l, l));

    /// <summary>Linear Gram of float64 data without any centring.</summary>
    public static Tensor LinearGram(Tensor x) { var m = x.to_type(ScalarType.Float64).reshape(x.shape[0], -1); return m.mm(m.t()); }

    /// <summary>Paper Eq. 3 computed directly from Hsic.Unbiased, batch by batch.</summary>
    public static double ReferenceMinibatch(Tensor x, Tensor y, int batchSize)
    {
        double xy = 0, xx = 0, yy = 0;
        for (long s = 0; s < x.shape[0]; s += batchSize)
        {
            long len = Math.Min(batchSize, x.shape[0] - s);
            if (len < 4) { continue; }
            var k = LinearGram(x.narrow(0, s, len));
            var l = LinearGram(y.narrow(0, s, len));
            xy += Repscope.Similarity.Hsic.Unbiased(k, l);
            xx += Repscope.Similarity.Hsic.Unbiased(k, k);
            yy += Repscope.Similarity.Hsic.Unbiased(l, l);
        }
        return xy / Math.Sqrt(xx * yy);
    }
}
