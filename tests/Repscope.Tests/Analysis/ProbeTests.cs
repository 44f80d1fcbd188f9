using Repscope.Analysis;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Tests.Analysis;

public class ProbeTests
{
    private static (Tensor X, long[] Y) Clusters(int n, int dims, int classes, double separation, int seed)
    {
        var gen = new torch.Generator((ulong)seed);
        var centres = torch.randn([classes, dims], generator: gen) * (float)separation;
        var y = torch.randint(0, classes, [n], generator: gen);
        var x = centres.index_select(0, y) + torch.randn([n, dims], generator: gen);
        return (x, y.data<long>().ToArray());
    }

    [Fact]
    public void SeparableClassesAreFoundAndNoiseIsNot()
    {
        using var scope = torch.NewDisposeScope();
        var (x, y) = Clusters(600, 20, 4, separation: 3, seed: 1);
        var r = LinearProbe.Fit("sep", x[..400], y[..400], x[400..], y[400..], 4);
        Assert.True(r.TestAccuracy > 0.97, $"separable: {r.TestAccuracy}");
        Assert.Equal(400, r.TrainExamples);
        Assert.Equal(200, r.TestExamples);
        Assert.Equal(20, r.Features);

        var (_, shuffled) = Clusters(600, 20, 4, separation: 3, seed: 2);   // labels unrelated to x
        var noise = LinearProbe.Fit("noise", x[..400], shuffled[..400], x[400..], shuffled[400..], 4);
        Assert.InRange(noise.TestAccuracy, 0.1, 0.45);
    }

    [Fact]
    public void AProbeIsLinear()
    {
        // XOR of two signs: no linear classifier beats chance by much; adding the product makes it linear.
        using var scope = torch.NewDisposeScope();
        var gen = new torch.Generator(3);
        var x = torch.rand([800, 2], generator: gen) * 2 - 1;
        long[] y = (x[.., 0] * x[.., 1]).gt(0).to(ScalarType.Int64).data<long>().ToArray();
        var xor = LinearProbe.Fit("xor", x[..600], y[..600], x[600..], y[600..], 2);
        Assert.InRange(xor.TestAccuracy, 0.3, 0.7);
        var lifted = torch.cat([x, (x[.., 0] * x[.., 1]).unsqueeze(1)], 1);
        var withProduct = LinearProbe.Fit("xor+product", lifted[..600], y[..600], lifted[600..], y[600..], 2);
        Assert.True(withProduct.TestAccuracy > 0.95, $"{withProduct.TestAccuracy}");
    }

    [Fact]
    public void SameSeedSameResult()
    {
        using var scope = torch.NewDisposeScope();
        var (x, y) = Clusters(300, 10, 3, separation: 1, seed: 4);
        var a = LinearProbe.Fit("a", x[..200], y[..200], x[200..], y[200..], 3, new ProbeOptions(Seed: 5));
        var b = LinearProbe.Fit("a", x[..200], y[..200], x[200..], y[200..], 3, new ProbeOptions(Seed: 5));
        Assert.Equal(a with { TestCorrect = null }, b with { TestCorrect = null });
        Assert.Equal(a.TestCorrect, b.TestCorrect);
    }

    [Theory]
    [InlineData(16, 32, 32, 1024, 8)]     // CIFAR stage 1, width 1: 16 x 8 x 8
    [InlineData(64, 8, 8, 1024, 4)]       // stage 3: 64 x 4 x 4
    [InlineData(16, 8, 8, 1024, 8)]       // fits: unchanged
    [InlineData(2048, 4, 4, 1024, 1)]     // more channels than the budget: global average pool
    public void PoolingFitsTheBudget(long c, long h, long w, int max, long side)
    {
        var p = ProbePooling.For(c, h, w, max);
        Assert.Equal((side, side), (p.OutHeight, p.OutWidth));
        Assert.Equal(c * side * side, p.Features);
    }

    [Fact]
    public void PoolingAveragesPatches()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.randn([3, 2, 8, 8], generator: new torch.Generator(6));
        var p = ProbePooling.For(2, 8, 8, 2 * 4 * 4);
        var pooled = p.Apply(x.reshape(3, -1)).reshape(3, 2, 4, 4);
        Assert.Equal(x[1, 1, 2..4, 6..8].mean().item<float>(), pooled[1, 1, 1, 3].item<float>(), 5);
        Assert.Throws<RepscopeException>(() => p.Apply(torch.randn(3, 100)));
    }

    [Fact]
    public void BadLabelsAreAnError()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.randn(10, 3);
        var e = Assert.Throws<RepscopeException>(() => LinearProbe.Fit("stage1.block2", x, new long[10], x, Enumerable.Repeat(5L, 10).ToArray(), 3));
        Assert.Contains("stage1.block2", e.Message);
        Assert.Throws<RepscopeException>(() => LinearProbe.Fit("l", x, new long[9], x, new long[10], 3));
    }

    /// <summary>Second formulation: Repscope's L-BFGS follows torch.optim.LBFGS (no line search) step for step.</summary>
    [Theory]
    [InlineData(5)]
    [InlineData(40)]
    public void LbfgsMatchesTorchsLbfgs(int iterations)
    {
        using var scope = torch.NewDisposeScope();
        var (x, labels) = Clusters(300, 12, 4, 1.5, 7);
        var y = torch.tensor(labels);
        (Tensor W, Tensor B) Fit(bool native)
        {
            var gen = new torch.Generator(5);
            var w = torch.nn.Parameter(torch.randn([12, 4], generator: gen) * 0.01f);
            var b = torch.nn.Parameter(torch.zeros(4));
            Tensor Loss()
            {
                w.grad?.zero_();
                b.grad?.zero_();
                var loss = torch.nn.functional.cross_entropy(x.matmul(w) + b, y) + 0.5 * 1e-3 * w.square().sum();
                loss.backward();
                return loss;
            }
            if (native)
            {
                var o = torch.optim.LBFGS([w, b], lr: 1, max_iter: iterations, tolerange_grad: 1e-6, tolerance_change: 1e-10, history_size: 20);
                o.step(Loss);
            }
            else { Lbfgs.Minimize([w, b], Loss, iterations); }
            return (w.detach().clone(), b.detach().clone());
        }
        var (wn, bn) = Fit(native: true);
        var (wo, bo) = Fit(native: false);
        Assert.True(wn.allclose(wo, rtol: 1e-3, atol: 1e-5), $"max |dW| {(wn - wo).abs().max().item<float>()}");
        Assert.True(bn.allclose(bo, rtol: 1e-3, atol: 1e-5), $"max |db| {(bn - bo).abs().max().item<float>()}");
        Assert.True((wo - torch.zeros_like(wo)).abs().max().item<float>() > 0.05);   // it moved
    }
}
