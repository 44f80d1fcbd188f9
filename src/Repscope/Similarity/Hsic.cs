using Repscope.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Similarity;

/// <summary>
/// The Hilbert-Schmidt independence criterion of two n x n Gram matrices (float64).
/// </summary>
public static class Hsic
{
    /// <summary>Biased HSIC: tr(K H L H) / (n-1)^2 with H = I - 11^T/n.</summary>
    public static double Biased(Tensor k, Tensor l)
    {
        using var scope = torch.NewDisposeScope();
        long n = CheckSquare(k, l);
        if (n < 2) { throw new UndefinedResultException("biased HSIC needs at least 2 rows"); }
        return DoubleCentre(k).mul_(DoubleCentre(l)).sum().item<double>() / ((n - 1.0) * (n - 1.0));
    }

    /// <summary>
    /// Unbiased HSIC (Song et al. 2012) with K~, L~ the Grams with zeroed diagonals:
    /// [tr(K~L~) + (1'K~1)(1'L~1)/((n-1)(n-2)) - 2/(n-2) 1'K~L~1] / (n(n-3)).
    /// </summary>
    public static double Unbiased(Tensor k, Tensor l)
    {
        using var scope = torch.NewDisposeScope();
        long n = CheckSquare(k, l);
        if (n < 4) { throw new UndefinedResultException($"the unbiased HSIC needs at least 4 rows, got {n}"); }
        var kt = ZeroDiagonal(k);
        var lt = ZeroDiagonal(l);
        var kr = kt.sum(1);
        var lr = lt.sum(1);
        double trace = kt.mul(lt).sum().item<double>();
        double sums = kr.sum().item<double>() * lr.sum().item<double>() / ((n - 1.0) * (n - 2.0));
        double cross = 2.0 / (n - 2.0) * kr.dot(lr).item<double>();
        return (trace + sums - cross) / (n * (n - 3.0));
    }

    /// <summary>H K H: subtract row and column means, add back the grand mean.</summary>
    internal static Tensor DoubleCentre(Tensor k)
    {
        var rowMeans = k.mean([1L], keepdim: true);
        var colMeans = k.mean([0L], keepdim: true);
        return (k - rowMeans - colMeans).add(k.mean(), TorchScalars.One);
    }

    /// <summary>A copy with the diagonal set to zero (never by subtracting diag(K), which would broadcast).</summary>
    internal static Tensor ZeroDiagonal(Tensor k)
    {
        var c = k.clone();
        c.diagonal().zero_();
        return c;
    }

    /// <summary>
    /// The U-centred Gram matrix (Szekely and Rizzo 2014): with K~ the Gram with a zero diagonal,
    /// r its row sums and s its total, U_ij = K~_ij - (r_i + r_j)/(n-2) + s/((n-1)(n-2)) off the
    /// diagonal, 0 on it. &lt;U(K), U(L)&gt; = n(n-3) x the unbiased HSIC. Works in place on
    /// <paramref name="k"/> (float64, n &gt;= 4).
    /// </summary>
    internal static Tensor UCentreInPlace(Tensor k)
    {
        long n = k.shape[0];
        k.diagonal().zero_();
        using var r = k.sum(1);
        double s = r.sum().item<double>();
        using Scalar rowScale = (n - 2.0).ToScalar(), shift = (s / ((n - 1.0) * (n - 2.0))).ToScalar();
        using var rs = r.div(rowScale);
        k.sub_(rs.unsqueeze(1)).sub_(rs.unsqueeze(0)).add_(shift, TorchScalars.One);
        k.diagonal().zero_();
        return k;
    }

    private static long CheckSquare(Tensor k, Tensor l)
    {
        if (k.dim() != 2 || k.shape[0] != k.shape[1] || l.dim() != 2 || !l.shape.SequenceEqual(k.shape))
        {
            throw new RepscopeException($"HSIC needs two square Gram matrices of the same size, got [{string.Join(",", k.shape)}] and [{string.Join(",", l.shape)}]");
        }
        return k.shape[0];
    }
}
