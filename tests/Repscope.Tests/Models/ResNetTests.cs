using Repscope.Data;
using Repscope.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Tests.Models;

public class ResNetTests
{
    /// <summary>Parameter count by hand: stem conv + BN, per block two 3x3 convs + two BNs, projections, classifier.</summary>
    private static long ExpectedParameters(int depth, double width, int classes, int inChannels, bool residual = true)
    {
        int n = (depth - 2) / 6;
        int[] c = [(int)Math.Round(16 * width, MidpointRounding.AwayFromZero), (int)Math.Round(32 * width, MidpointRounding.AwayFromZero), (int)Math.Round(64 * width, MidpointRounding.AwayFromZero)];
        long total = 9L * inChannels * c[0] + 2 * c[0];
        int prev = c[0];
        foreach (int ch in c)
        {
            for (int b = 0; b < n; b++)
            {
                total += 9L * prev * ch + 9L * ch * ch + 4 * ch;
                if (prev != ch && residual) { total += (long)prev * ch + 2 * ch; }
                prev = ch;
            }
        }
        return total + (long)c[2] * classes + classes;
    }

    [Theory]
    [InlineData(20, 0.27e6, 272_474)]
    [InlineData(56, 0.85e6, 855_770)]
    public void ParameterCountsMatchThePublishedCifarNumbers(int depth, double published, long exact)
    {
        using var model = ResNet.Cifar(depth, 1, residual: true, classes: 10);
        Assert.Equal(exact, model.ParameterCount);
        Assert.Equal(ExpectedParameters(depth, 1, 10, 3), model.ParameterCount);
        // He et al. (2016), Table 6: 0.27M and 0.85M; ours has 1x1 projections (2,752 parameters) where they zero-pad.
        Assert.InRange(model.ParameterCount, published * 0.99, published * 1.01);
    }

    [Theory]
    [InlineData(8, 0.5, 1)]
    [InlineData(14, 2, 3)]
    [InlineData(26, 1.5, 1)]
    public void ParameterCountsAtOtherSizes(int depth, double width, int inChannels)
    {
        using var model = ResNet.Cifar(depth, width, residual: false, classes: 7, inChannels: inChannels);
        Assert.Equal(ExpectedParameters(depth, width, 7, inChannels, residual: false), model.ParameterCount);
    }

    [Theory]
    [InlineData(21)]
    [InlineData(2)]
    [InlineData(0)]
    public void DepthThatIsNotSixNPlusTwoIsAnError(int depth)
    {
        var e = Assert.Throws<RepscopeException>(() => ResNet.Cifar(depth, 1, true, 10));
        Assert.Contains($"depth {depth} is not 6n+2", e.Message);
        Assert.Contains("width must be a positive", Assert.Throws<RepscopeException>(() => ResNet.Cifar(8, 0, true, 10)).Message);
    }

    [Fact]
    public void StateDictKeysAreTheLayerNames()
    {
        using var model = ResNet.Cifar(8, 1, true, 10);
        var keys = model.state_dict().Keys.ToHashSet();
        Assert.Contains("stem.conv.weight", keys);
        Assert.Contains("stage1.block1.branch.conv1.weight", keys);
        Assert.Contains("stage2.block1.shortcut.conv.weight", keys);
        Assert.Contains("stage3.block1.branch.bn2.running_mean", keys);
        Assert.Contains("fc.weight", keys);
        Assert.DoesNotContain("stage1.block1.shortcut.conv.weight", keys);
    }

    internal static ImageDataset RandomData(int n, int channels, int side, int classes = 10, int seed = 0)
    {
        var rng = new Random(seed);
        var pixels = new byte[n * channels * side * side];
        rng.NextBytes(pixels);
        var raw = new RawImages(pixels, Enumerable.Range(0, n).Select(i => (long)(i % classes)).ToArray(), channels, side, side);
        return new ImageDataset("random", raw, classes, Enumerable.Range(0, classes).Select(i => $"c{i}").ToList(), raw.Statistics());
    }

    [Theory]
    [InlineData(8, 1.0, 1, 28)]
    [InlineData(14, 0.5, 3, 32)]
    [InlineData(20, 2.0, 3, 9)]
    public void TapsHaveTheExpectedShapesAndOrder(int depth, double width, int channels, int side)
    {
        using var model = ResNet.Cifar(depth, width, true, 10, channels);
        using var data = RandomData(6, channels, side);
        int n = (depth - 2) / 6;
        var blocks = model.TapNames(TapSet.Blocks);
        Assert.Equal(1 + 3 * n, blocks.Count);
        Assert.Equal("stem", blocks[0]);
        Assert.Equal("stage1.block1", blocks[1]);
        Assert.Equal($"stage3.block{n}", blocks[^1]);
        var all = model.TapNames(TapSet.All).ToList();
        Assert.Equal(3 + 3 * n * 6 + 2, all.Count);   // stem x3; per block 5 inner + output; 2 projections
        Assert.Contains("stage2.block1.branch", all);
        Assert.True(all.IndexOf("stage2.block1.branch") < all.IndexOf("stage2.block1"));

        int[] sides = [side, (side + 1) / 2, ((side + 1) / 2 + 1) / 2];
        long Features(string tap)
        {
            if (tap.StartsWith("stem", StringComparison.Ordinal)) { return (long)model.StageChannels[0] * side * side; }
            int s = tap[5] - '1';
            return (long)model.StageChannels[s] * sides[s] * sides[s];
        }
        int batches = 0;
        Activations.Stream(model, data, 4, TapSet.All, (labels, taps) =>
        {
            Assert.Equal(all.Count, taps.Count);
            for (int i = 0; i < taps.Count; i++)
            {
                Assert.Equal(new[] { labels.LongLength, Features(all[i]) }, taps[i].shape);
                Assert.Equal(ScalarType.Float32, taps[i].dtype);
            }
            batches++;
        });
        Assert.Equal(2, batches);
    }

    /// <summary>Block output = ReLU(branch + input) with residual connections and ReLU(branch) without: checked on the taps.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void NoResidualReallyRemovesTheAdditions(bool residual)
    {
        using var model = ResNet.Cifar(14, 1, residual, 10, 1);
        model.Initialise(new Generator(3));
        using var data = RandomData(5, 1, 12);
        var names = model.TapNames(TapSet.All);
        Activations.Stream(model, data, 5, TapSet.All, (_, taps) =>
        {
            Tensor Tap(string n) => taps[names.ToList().IndexOf(n)];
            foreach (var (input, block) in new[] { ("stage1.block1", "stage1.block2"), ("stage3.block1", "stage3.block2") })
            {
                var branch = Tap($"{block}.branch");
                var output = Tap(block);
                var withAdd = nn.functional.relu(branch + Tap(input));
                var withoutAdd = nn.functional.relu(branch);
                Assert.True((residual ? withAdd : withoutAdd).allclose(output, rtol: 1e-5, atol: 1e-6));
                Assert.False((residual ? withoutAdd : withAdd).allclose(output, rtol: 1e-3, atol: 1e-3));
            }
            // The projection block: output = ReLU(branch + shortcut); without residual connections there is no shortcut.
            if (residual)
            {
                var proj = nn.functional.relu(Tap("stage2.block1.branch") + Tap("stage2.block1.shortcut"));
                Assert.True(proj.allclose(Tap("stage2.block1"), rtol: 1e-5, atol: 1e-6));
            }
            else
            {
                Assert.DoesNotContain("stage2.block1.shortcut", names);
                Assert.True(nn.functional.relu(Tap("stage2.block1.branch")).allclose(Tap("stage2.block1"), rtol: 1e-5, atol: 1e-6));
            }
        });
    }

    [Fact]
    public void DeletedBlocksPassTheirShortcutThrough()
    {
        using var model = ResNet.Cifar(14, 1, true, 10, 1);
        model.Initialise(new Generator(4));
        using var data = RandomData(4, 1, 12);
        var names = model.TapNames(TapSet.Blocks).ToList();
        Tensor[] Run()
        {
            var result = new Tensor[names.Count];
            Activations.Stream(model, data, 4, TapSet.Blocks, (_, taps) =>
            {
                for (int i = 0; i < taps.Count; i++) { result[i] = taps[i].clone().DetachFromDisposeScope(); }
            });
            return result;
        }
        var intact = Run();
        model.DeletedBlocks = new HashSet<string> { "stage1.block2", "stage2.block1" };
        var pruned = Run();
        int b12 = names.IndexOf("stage1.block2"), b21 = names.IndexOf("stage2.block1");
        Assert.True(pruned[b12].allclose(pruned[b12 - 1], rtol: 0, atol: 0));             // identity shortcut: output = input
        Assert.False(intact[b12].allclose(pruned[b12]));
        Assert.Equal(intact[b21 - 2].shape, pruned[b21 - 2].shape);
        Assert.True(intact[b12 - 1].allclose(pruned[b12 - 1], rtol: 0, atol: 0));         // blocks before are untouched
        Assert.Equal(intact[b21].shape, pruned[b21].shape);                        // the projection keeps the shape
        // An inner tap of a deleted block does not fire, and Stream says which one.
        var e = Assert.Throws<RepscopeException>(() => Activations.Stream(model, data, 4, TapSet.All, (_, _) => { }));
        Assert.Contains("stage1.block2.branch.conv1", e.Message);
        Assert.Contains("did not fire", e.Message);
        model.DeletedBlocks = new HashSet<string>();
        Assert.True(intact[^1].allclose(Run()[^1]));
        Assert.Contains("no block named 'stage4.block1'", Assert.Throws<RepscopeException>(() => model.DeletedBlocks = new HashSet<string> { "stage4.block1" }).Message);
        foreach (var t in intact.Concat(pruned)) { t.Dispose(); }
        using var plain = ResNet.Cifar(14, 1, false, 10, 1);
        Assert.Contains("changes the shape", Assert.Throws<RepscopeException>(() => plain.DeletedBlocks = new HashSet<string> { "stage2.block1" }).Message);
        plain.DeletedBlocks = new HashSet<string> { "stage2.block2" };
    }

    [Fact]
    public void StreamIsIndependentOfBatchSizeAndRestoresTrainingMode()
    {
        using var model = ResNet.Cifar(8, 1, true, 10, 3);
        using var data = RandomData(7, 3, 10);
        model.train();
        Tensor Collect(int batch)
        {
            var parts = new List<Tensor>();
            var labels = new List<long>();
            Activations.Stream(model, data, batch, TapSet.Blocks, (l, taps) => { labels.AddRange(l); parts.Add(taps[^1].clone().DetachFromDisposeScope()); });
            Assert.Equal(data.Labels, labels);
            return cat(parts, 0);
        }
        using var a = Collect(7);
        using var b = Collect(3);
        Assert.True(a.allclose(b, rtol: 1e-4, atol: 1e-5));
        Assert.True(model.training);
    }
    /// <summary>In train mode the ResNet adds and applies ReLU in place; the logits and every parameter's gradient must
    /// equal an out-of-place formulation of the same network built from functional operations on its parameters.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TrainingInPlaceOperationsGiveTheOutOfPlaceValuesAndGradients(bool residual)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(3);
        using var model = ResNet.Cifar(8, 0.5, residual, classes: 10, inChannels: 2);
        model.Initialise(g);
        model.train();
        var x = randn([6, 2, 12, 12], generator: g);
        var r = randn([6, 10], generator: g);
        var p = model.named_parameters().ToDictionary(t => t.name, t => (Tensor)t.parameter);
        var buffers = model.named_buffers().ToDictionary(t => t.name, t => t.buffer.clone());

        Tensor Bn(Tensor h, string name) =>
            nn.functional.batch_norm(h, buffers[name + ".running_mean"], buffers[name + ".running_var"], p[name + ".weight"], p[name + ".bias"], training: true);
        Tensor Conv(Tensor h, string name, long stride, long pad) =>
            nn.functional.conv2d(h, p[name + ".weight"], strides: [stride, stride], padding: [pad, pad]);
        Tensor Block(Tensor h, string name, long stride, bool projection)
        {
            var b = Bn(Conv(nn.functional.relu(Bn(Conv(h, name + ".branch.conv1", stride, 1), name + ".branch.bn1")), name + ".branch.conv2", 1, 1), name + ".branch.bn2");
            if (!residual) { return nn.functional.relu(b); }
            var shortcut = projection ? Bn(Conv(h, name + ".shortcut.conv", stride, 0), name + ".shortcut.bn") : h;
            return nn.functional.relu(b + shortcut);
        }
        var h = nn.functional.relu(Bn(Conv(x, "stem.conv", 1, 1), "stem.bn"));
        h = Block(h, "stage1.block1", 1, false);
        h = Block(h, "stage2.block1", 2, true);
        h = Block(h, "stage3.block1", 2, true);
        var expected = nn.functional.linear(nn.functional.adaptive_avg_pool2d(h, 1).flatten(1), p["fc.weight"], p["fc.bias"]);
        var expectedGrads = autograd.grad([(expected * r).sum()], p.Values.ToArray());

        var logits = model.call(x);
        var grads = autograd.grad([(logits * r).sum()], p.Values.ToArray());
        Assert.True(logits.allclose(expected, rtol: 1e-5, atol: 1e-6));
        Assert.True(expected.abs().max().item<float>() > 1e-3f);
        for (int k = 0; k < grads.Count; k++)
        {
            double scale = expectedGrads[k].abs().max().item<float>();
            // float32 sums in another order (channels-last kernels): agreement to 1e-5 of the gradient's largest entry.
            Assert.True(grads[k].allclose(expectedGrads[k], rtol: 1e-4, atol: 1e-5 * scale), $"gradient of {p.Keys.ElementAt(k)}: max diff {(grads[k] - expectedGrads[k]).abs().max().item<float>()}, max {scale}");
        }
    }

    /// <summary>
    /// Training runs in channels-last order from the stem on, also for one-channel images (Fashion-MNIST), whose batch is
    /// NCHW and NHWC at once: libtorch then gave the stem convolution an NCHW output and the whole network ran in NCHW,
    /// 1.2x slower. Eval mode stays NCHW (taps, exports).
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void TrainingKeepsChannelsLastFromTheStemOnAndEvalKeepsNchw(int inChannels)
    {
        using var model = ResNet.Cifar(8, 1, true, 10, inChannels);
        model.Initialise(new Generator(5));
        using var data = RandomData(4, inChannels, 12, seed: 6);
        var seen = new List<(bool Training, long[] Shape, long[] Strides)>();
        var hooks = new[] { "stem.bn", "stage1.block1", "stage3.block1" }.Select(name => model.TapModule(name).register_forward_hook((m, input, output) =>
        {
            seen.Add((model.training, output.shape, output.stride()));
            return output;
        })).ToList();
        model.train();
        using (var scope = NewDisposeScope()) { model.call(data.Images); }
        model.eval();
        using (var noGrad = no_grad())
        using (var scope = NewDisposeScope()) { model.call(data.Images); }
        foreach (var h in hooks) { h.remove(); }
        Assert.Equal(6, seen.Count);
        foreach (var (training, shape, strides) in seen)
        {
            long c = shape[1], hh = shape[2], w = shape[3];
            long[] expected = training ? [hh * w * c, 1, w * c, c] : [c * hh * w, hh * w, w, 1];
            Assert.Equal(expected, strides);
        }
    }

    [Fact]
    public void EvalForwardEqualsTheBlocksComputedOutOfPlaceBitForBit()
    {
        // Eval mode adds the shortcut and applies the last ReLU in place on the branch's output (issue 14's analyses
        // memory); a second formulation with the same modules, every step out of place, must give the same bits.
        using var model = ResNet.Cifar(14, 1, true, 10, 3);   // two blocks per stage, with projections
        model.Initialise(new Generator(7));
        using var data = RandomData(9, 3, 16, seed: 4);
        model.eval();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var x = data.Images;
        var expected = model.TapModule("stem").call(x);
        foreach (var name in model.BlockNames)
        {
            var branch = model.TapModule($"{name}.branch").call(expected);
            var shortcut = model.TapNames(TapSet.All).Contains($"{name}.shortcut") ? model.TapModule($"{name}.shortcut").call(expected) : expected;
            expected = nn.functional.relu(branch.add(shortcut));
        }
        expected = model.TapModule("fc").call(model.TapModule("pool").call(expected).flatten(1));
        var actual = model.call(x);
        Assert.Equal(expected.shape, actual.shape);
        Assert.True(actual.equal(expected).all().item<bool>(), $"max difference {(actual - expected).abs().max().item<float>()}");
    }
}
