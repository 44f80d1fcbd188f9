using Repscope.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Similarity;

/// <summary>
/// Linear CKA with the biased HSIC on the whole data, in the two equivalent forms of Kornblith et
/// al. 2019: feature space ||Xc'Yc||_F^2 / (||Xc'Xc||_F ||Yc'Yc||_F) (cheap when features are
/// fewer than examples) and Gram space &lt;K, L&gt; / (||K||_F ||L||_F) with K = Xc Xc' (cheap
/// otherwise). Xc, Yc are the column-centred representations. Products run in the inputs'
/// precision, sums of squares in float64.
/// </summary>
public static class LinearCka
{
    /// <summary>Picks the cheaper form: feature space when both have fewer features than examples.</summary>
    public static double Compute(Tensor x, Tensor y, string xName = "x", string yName = "y")
    {
        using var scope = torch.NewDisposeScope();
        var (cx, cy) = Prepare(x, y, xName, yName);
        long n = cx.shape[0];
        return cx.shape[1] < n && cy.shape[1] < n ? FeatureSpaceOfCentred(cx, cy) : GramSpaceOfCentred(cx, cy);
    }

    /// <summary>Feature-space form (X'Y).</summary>
    public static double FeatureSpace(Tensor x, Tensor y, string xName = "x", string yName = "y")
    {
        using var scope = torch.NewDisposeScope();
        var (cx, cy) = Prepare(x, y, xName, yName);
        return FeatureSpaceOfCentred(cx, cy);
    }

    /// <summary>Gram-space form (X X', Y Y').</summary>
    public static double GramSpace(Tensor x, Tensor y, string xName = "x", string yName = "y")
    {
        using var scope = torch.NewDisposeScope();
        var (cx, cy) = Prepare(x, y, xName, yName);
        return GramSpaceOfCentred(cx, cy);
    }

    /// <summary>Column-centred working copies after every check (same rows, finite, not constant, same precision).</summary>
    internal static (Tensor X, Tensor Y) Prepare(Tensor x, Tensor y, string xName, string yName)
    {
        var mx = Gram.AsMatrix(x, xName);
        var my = Gram.AsMatrix(y, yName);
        CheckSameRows(mx, my, xName, yName);
        if (Gram.IsConstant(mx)) { throw Constant(xName); }
        if (Gram.IsConstant(my)) { throw Constant(yName); }
        if (mx.dtype != my.dtype) { mx = mx.to_type(ScalarType.Float64); my = my.to_type(ScalarType.Float64); }
        // CKA is scale-invariant: each side is brought to a safe scale (by a power of two) before any product.
        return (Gram.CentreColumns(Gram.ToSafeScale(mx)), Gram.CentreColumns(Gram.ToSafeScale(my)));
    }

    internal static void CheckSameRows(Tensor x, Tensor y, string xName, string yName)
    {
        if (x.shape[0] != y.shape[0])
        {
            throw new RepscopeException($"{xName} has {x.shape[0]} examples (rows) but {yName} has {y.shape[0]}; CKA needs the same examples in the same order");
        }
    }

    internal static UndefinedResultException Constant(string name) =>
        new($"{name}: constant representation (zero variance): CKA is undefined");

    /// <summary>||A'B||_F^2 in float64 from a product in the inputs' precision.</summary>
    internal static double CrossNormSquared(Tensor a, Tensor b)
    {
        using var p = a.t().mm(b);
        using var p64 = p.to_type(ScalarType.Float64);
        return p64.pow(TorchScalars.Two).sum().item<double>();
    }

    internal static double FeatureSpaceOfCentred(Tensor cx, Tensor cy)
    {
        double xy = CrossNormSquared(cx, cy);
        double xx = CrossNormSquared(cx, cx);
        double yy = CrossNormSquared(cy, cy);
        return Ratio(xy, xx, yy);
    }

    internal static double GramSpaceOfCentred(Tensor cx, Tensor cy)
    {
        using var scope = torch.NewDisposeScope();
        var k = cx.mm(cx.t()).to_type(ScalarType.Float64);
        var l = cy.mm(cy.t()).to_type(ScalarType.Float64);
        double kl = k.mul(l).sum().item<double>();
        double kk = k.pow(TorchScalars.Two).sum().item<double>();
        double ll = l.pow(TorchScalars.Two).sum().item<double>();
        return Ratio(kl, kk, ll);
    }

    /// <summary>HSIC(K,L) / sqrt(HSIC(K,K) HSIC(L,L)); NaN when a self term is not positive.</summary>
    internal static double Ratio(double kl, double kk, double ll) =>
        kk > 0 && ll > 0 ? kl / Math.Sqrt(kk * ll) : double.NaN;
}
