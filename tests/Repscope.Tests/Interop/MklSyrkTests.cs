using Repscope.Interop;
using Repscope.Similarity;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Tests.Interop;

/// <summary>
/// MKL's symmetric rank-k product, reached through an internal driver of the libtorch package: it must be there (the
/// package is pinned), give X X' in the upper triangle and leave the lower one alone, and the CKA maps made with it
/// must equal those of general products.
/// </summary>
public class MklSyrkTests
{
    [Fact]
    public void ThePinnedLibtorchPackageHasIt()
    {
        // If this fails after a package update, CKA still works (general products) but its Grams take twice the work.
        Assert.True(MklSyrk.Available, "mkl_blas_ssyrk / mkl_blas_dsyrk missing from libtorch_cpu, or the probe gave wrong numbers");
    }

    [Theory]
    [InlineData(1, 1, ScalarType.Float32)]
    [InlineData(7, 13, ScalarType.Float32)]
    [InlineData(256, 4096, ScalarType.Float32)]
    [InlineData(255, 333, ScalarType.Float32)]
    [InlineData(33, 2, ScalarType.Float64)]
    [InlineData(130, 517, ScalarType.Float64)]
    public void TheUpperTriangleIsXXtAndTheLowerIsUntouched(int n, int k, ScalarType type)
    {
        using var scope = NewDisposeScope();
        var x = torch.randn([n, k], generator: new Generator((ulong)(n * 1000 + k))).to_type(type);
        using var sentinel = (-12345.0).ToScalar();
        var output = torch.full([n, n], sentinel, dtype: type);
        MklSyrk.UpperTriangle(x, output);
        var expected = x.to_type(ScalarType.Float64).mm(x.to_type(ScalarType.Float64).t());
        var got = output.to_type(ScalarType.Float64);
        double scale = expected.abs().max().item<double>();
        double tolerance = (type == ScalarType.Float32 ? 1e-6 : 1e-14) * Math.Sqrt(k) * scale;
        var upper = torch.ones(n, n, dtype: ScalarType.Bool).triu();
        double worst = (got - expected).abs().masked_select(upper).max().item<double>();
        Assert.True(worst <= tolerance, $"upper triangle off by {worst:E2} (tolerance {tolerance:E2})");
        var lower = upper.logical_not();
        if (n > 1) { Assert.True(got.masked_select(lower).eq(-12345.0).all().item<bool>(), "the lower triangle was written"); }
        // The same numbers as libtorch's own product in the same precision (MKL's kernels sum in the same order here).
        var sameType = x.mm(x.t()).to_type(ScalarType.Float64);
        Assert.True((got - sameType).abs().masked_select(upper).max().item<double>() <= tolerance);
    }

    /// <summary>
    /// Views that start inside their storage (a batch of rows of a larger matrix, written into rows of a larger output,
    /// as minibatches are): the product must read the view's rows, not the storage's first ones, and write only the
    /// view's upper triangle.
    /// </summary>
    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.Float64)]
    public void ViewsWithAnOffsetIntoTheirStorageReadAndWriteOnlyTheirOwnRows(ScalarType type)
    {
        const int n = 9, k = 21;
        using var scope = NewDisposeScope();
        var all = torch.randn([n + 7, k], generator: new Generator(5)).to_type(type);
        var x = all.narrow(0, 4, n);
        using var sentinel = (-777.0).ToScalar();
        var storage = torch.full([n + 5, n], sentinel, dtype: type);
        var output = storage.narrow(0, 3, n);
        Assert.True(x.is_contiguous() && output.is_contiguous());
        MklSyrk.UpperTriangle(x, output);
        var expected = x.to_type(ScalarType.Float64).mm(x.to_type(ScalarType.Float64).t());
        var upper = torch.ones(n, n, dtype: ScalarType.Bool).triu();
        double worst = (output.to_type(ScalarType.Float64) - expected).abs().masked_select(upper).max().item<double>();
        Assert.True(worst <= (type == ScalarType.Float32 ? 1e-4 : 1e-12) * expected.abs().max().item<double>(), $"off by {worst:E2}");
        Assert.True(output.masked_select(upper.logical_not()).eq(-777.0).all().item<bool>(), "the lower triangle was written");
        Assert.True(storage.narrow(0, 0, 3).eq(-777.0).all().item<bool>() && storage.narrow(0, 3 + n, 2).eq(-777.0).all().item<bool>(),
                    "rows outside the view were written");
    }

    [Fact]
    public void MirroringGivesAnExactlySymmetricMatrixFromTheUpperTriangle()
    {
        using var scope = NewDisposeScope();
        var x = torch.randn([40, 90], generator: new Generator(3));
        var g = Gram.SymmetricProduct(x);
        Assert.Equal(ScalarType.Float64, g.dtype);
        Assert.True(g.equal(g.t()).all().item<bool>());
        Assert.True(g.allclose(x.mm(x.t()).to_type(ScalarType.Float64), rtol: 1e-5, atol: 1e-4));
    }

    [Theory]
    [InlineData(KernelKind.Linear)]
    [InlineData(KernelKind.Rbf)]
    public void MinibatchMapsBySyrkEqualThoseByBlocksAndFullProducts(KernelKind kernel)
    {
        using var scope = NewDisposeScope();
        var g = new Generator(9);
        var first = torch.nn.functional.relu(torch.randn([300, 120], generator: g));
        var layers = new List<Tensor> { first, torch.nn.functional.relu(first.mm(torch.randn([120, 70], generator: g)) + torch.randn([300, 70], generator: g)),
                                        torch.randn([300, 31], generator: g).to_type(ScalarType.Float64) };
        string[] names = ["a", "b", "c"];
        var plan = new BatchPlan(300, 64, 2);
        CkaMatrix Map(MinibatchCkaAccumulator.GramMethod method)
        {
            var before = MinibatchCkaAccumulator.LinearGramMethod;
            MinibatchCkaAccumulator.LinearGramMethod = method;
            try { return AllPairsCka.Minibatch(layers, names, null, null, plan, kernel, 0.5, null, out _); }
            finally { MinibatchCkaAccumulator.LinearGramMethod = before; }
        }
        var syrk = Map(MinibatchCkaAccumulator.GramMethod.Syrk);
        foreach (var other in new[] { Map(MinibatchCkaAccumulator.GramMethod.Blocks), Map(MinibatchCkaAccumulator.GramMethod.Full) })
        {
            for (int i = 0; i < 3; i++)
            {
                for (int j = 0; j < 3; j++) { Assert.True(Math.Abs(syrk[i, j] - other[i, j]) < 1e-9, $"[{i},{j}] {syrk[i, j]:R} vs {other[i, j]:R}"); }
            }
        }
        Assert.True(syrk[0, 1] is > 0.05 and < 0.999, $"a vs b: {syrk[0, 1]}");
    }
}
