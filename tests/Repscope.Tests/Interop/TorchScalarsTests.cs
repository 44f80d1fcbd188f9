using Repscope.Interop;
using Repscope.Models;
using Repscope.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Tests.Interop;

/// <summary>
/// The training step's hot paths pass scalars that outlive their libtorch calls (Interop.TorchScalars). With
/// TorchSharp's own BatchNorm2d, a thread collecting garbage in a loop made the training-mode forward fail
/// within about 5,000 calls (and <c>t.add_(1)</c> within 10,000), measured 2026-11-28.
/// </summary>
public sealed class TorchScalarsTests
{
    [Fact]
    public void BatchNorm_with_kept_scalars_computes_what_torchsharps_batchnorm_computes()
    {
        var g = new Generator(3);
        using var ours = new BatchNorm2dKeptScalars(5);
        using var theirs = nn.BatchNorm2d(5);
        using (no_grad())
        {
            ours.weight!.copy_(rand(5, generator: g));
            theirs.weight!.copy_(ours.weight);
            ours.bias!.copy_(randn(5, generator: g));
            theirs.bias!.copy_(ours.bias);
        }
        foreach (bool training in new[] { true, true, true, false })
        {
            ours.train(training);
            theirs.train(training);
            using var x = randn([4, 5, 3, 3], generator: g).mul_(3).add_(1);
            using var a = ours.call(x);
            using var b = theirs.call(x);
            Assert.True(a.eq(b).all().item<bool>());
        }
        Assert.Equal(theirs.state_dict().Keys.OrderBy(k => k), ours.state_dict().Keys.OrderBy(k => k));
        Assert.Equal(3, ours.num_batches_tracked!.item<long>());
        Assert.True(ours.running_mean!.eq(theirs.running_mean!).all().item<bool>());
        Assert.True(ours.running_var!.eq(theirs.running_var!).all().item<bool>());
    }

    /// <summary>
    /// The rewrites the ban asks for (src/BannedSymbols.txt) against the bare-number forms they replace, bit for bit,
    /// in float32 and float64: the TorchScalars members are the integer scalars C# makes of the literals.
    /// </summary>
    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.Float64)]
    public void Kept_scalar_forms_compute_what_the_bare_number_forms_compute(ScalarType type)
    {
        static void Same(Tensor expected, Tensor actual)
        {
            Assert.Equal(expected.dtype, actual.dtype);
            Assert.Equal(expected.shape, actual.shape);
            Assert.True(expected.eq(actual).all().item<bool>());
        }
        var g = new Generator(5);
        using var scope = NewDisposeScope();
        var t = randn([7, 5], generator: g).to_type(type).mul_(3);
        var u = randn([7, 5], generator: g).to_type(type);
        using (Scalar two = 2, minusTwo = -2, oneDouble = 1.0)
        {
            Assert.Equal(two.Type, TorchScalars.Two.Type);   // an integer Scalar (libtorch holds it as int64), as the literal makes
            Assert.Equal(minusTwo.Type, TorchScalars.MinusTwo.Type);
            Assert.NotEqual(oneDouble.Type, TorchScalars.One.Type);
        }
        Same(t.square(), t.pow(TorchScalars.Two));
        Same(t.pow(2), t.pow(TorchScalars.Two));
        Same(t + u, t.add(u, TorchScalars.One));
        Same(t.clone().add_(u), t.clone().add_(u, TorchScalars.One));
        Same(t.clone().add_(1), t.clone().add_(TorchScalars.One, TorchScalars.One));
        Same(t.clone().mul_(-2), t.clone().mul_(TorchScalars.MinusTwo));
        Same(arange(9, dtype: ScalarType.Int64), arange(TorchScalars.Zero, 9, TorchScalars.One, dtype: ScalarType.Int64));
        Same((t + 1) / 2, t.add(TorchScalars.One, TorchScalars.One).div(TorchScalars.Two));
        using (var s = 0.37.ToScalar())
        {
            Same(t * 0.37, t.mul(s));
            Same(0.37 * t, t.mul(s));
            Same(t / 0.37, t.div(s));
        }
        using (var f = 0.37f.ToScalar()) { Same(t * 0.37f, t.mul(f)); }
        using (var n = 6L.ToScalar()) { Same(t / 6L, t.div(n)); }
    }

    /// <summary>
    /// Each hot-path unit in a tight loop (tiny tensors, so that the calls are many) while another thread collects
    /// garbage in a loop, against the same loop without it: no error and the same numbers, bit for bit. 20,000
    /// calls per unit: TorchSharp's BatchNorm2d failed this within about 5,000.
    /// </summary>
    [Fact]
    public void Hot_paths_survive_a_thread_that_collects_garbage_in_a_loop_and_compute_the_same()
    {
        const int Calls = 20_000;
        float[] Run(bool hammer)
        {
            using var stop = new CancellationTokenSource();
            var collector = new Thread(() => { while (!stop.IsCancellationRequested) { GC.Collect(); GC.WaitForPendingFinalizers(); } });
            if (hammer) { collector.Start(); }
            try
            {
                var g = new Generator(11);
                using var bn = new BatchNorm2dKeptScalars(2);
                bn.train();
                using var x = randn([2, 2, 2, 2], generator: g);
                using var p = new TorchSharp.Modules.Parameter(randn([3], generator: g));
                using var sgd = new Sgd([p], momentum: 0.9, weightDecay: 5e-4);
                using var image = randn([1, 1, 3, 3], generator: g);
                var results = new List<float>();
                for (int i = 0; i < Calls; i++)
                {
                    using var scope = NewDisposeScope();
                    bn.call(x);
                    p.grad = ones([3]);
                    sgd.Step(0.01);
                    if (i % 4 == 0) { results.Add(Augmentation.CropAndFlip(image, 1, flip: true, g).sum().item<float>()); }
                }
                results.AddRange(bn.running_mean!.data<float>().ToArray());
                results.AddRange(bn.running_var!.data<float>().ToArray());
                results.Add(bn.num_batches_tracked!.item<long>());
                results.AddRange(p.data<float>().ToArray());
                return results.ToArray();
            }
            finally
            {
                stop.Cancel();
                if (hammer) { collector.Join(); }
            }
        }
        var hammered = Run(hammer: true);
        var quiet = Run(hammer: false);
        Assert.Equal(Calls, hammered[^4]);
        Assert.Equal(quiet, hammered);
    }
}
